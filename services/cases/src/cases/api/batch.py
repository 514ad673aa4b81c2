"""`POST /cases:batch`: many reports in one request, all recorded or none.

For a partner system that sends what it collected (a school's term list, a hotline's
night): one request, one transaction, the same checks, sealing, duplicate links, events
and audit records as `POST /cases` gives each report. `POST /cases` is a batch of one:
`record_reports` records both. A batch is prepared without the database's write lock
(`cases.batch_intake`), so a large one does not hold up live intake, and its rows go in as
plain values, one INSERT a table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from cases.adapters.batch_store import PreparedBatch
from cases.adapters.intake_requests import KeyedRequest
from cases.adapters.tables import CaseRecord
from cases.api.deps import CasesContext, Context
from cases.api.idempotency import IdempotencyKey, answer_once, keyed_request
from cases.api.schemas import CaseAccepted, CaseReportIn
from cases.batch_intake import CaseBatch, reading_session, write_unless_overtaken
from cases.domain.commands import RecordCase
from cases.domain.intake import missing_for_channel
from chassis.access import Grant, Granted
from chassis.api import error_responses, invalid
from chassis.db import transaction
from chassis.logs import current_correlation_id

Answer = TypeVar("Answer", bound=BaseModel)

MAX_REPORTS = 500  # about a second of work on this project's reference machine

router = APIRouter(tags=["cases"])


class CaseBatchIn(BaseModel):
    reports: list[CaseReportIn] = Field(
        min_length=1,
        max_length=MAX_REPORTS,
        description=f"1 to {MAX_REPORTS} reports, each as the body of `POST /cases`.",
    )


class CaseBatchAccepted(BaseModel):
    cases: list[CaseAccepted] = Field(description="One per report, in the request's order.")


@router.post(
    "/cases:batch",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseBatchAccepted,
    responses=error_responses({403: "A report names a province the caller does not serve."}),
)
def report_cases(
    body: CaseBatchIn,
    grant: Granted,
    context: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CaseBatchAccepted:
    """Record every report, or none: a report that fails a check refuses the batch, and the
    error names it by its index (`reports.3.child.address`)."""
    received_at = datetime.now(UTC)
    commands = [
        _command(index, report, grant, received_at) for index, report in enumerate(body.reports)
    ]
    request = keyed_request(context, grant, idempotency_key, body)

    def create() -> CaseBatchAccepted:
        return record_reports(context, grant, commands, request, _accepted)

    return answer_once(context.engine, request, response, CaseBatchAccepted, create)


def _command(index: int, report: CaseReportIn, grant: Grant, received_at: datetime) -> RecordCase:
    if not grant.serves(report.province_code):
        message = f"reports.{index}.province_code: outside the provinces you serve"
        raise grant.refuse(status.HTTP_403_FORBIDDEN, message, resource_id="new")
    command = report.to_command(reported_by=grant.officer.subject, received_at=received_at)
    missing = missing_for_channel(report.channel, command.present_fields())
    if missing:
        raise invalid(
            *(f"reports.{index}.{name}" for name in missing),
            message=f"required for channel {report.channel.value}",
        )
    return command


def _accepted(records: list[CaseRecord]) -> CaseBatchAccepted:
    return CaseBatchAccepted(cases=[accepted(record) for record in records])


def accepted(record: CaseRecord) -> CaseAccepted:
    return CaseAccepted(case_id=record.id, status=record.status, received_at=record.received_at)


def record_reports(
    context: CasesContext,
    grant: Grant,
    commands: list[RecordCase],
    request: KeyedRequest | None,
    answer: Callable[[list[CaseRecord]], Answer],
) -> Answer:
    """Record every command with its audit record, all or none, and keep `answer` of the
    new cases for the request's key, if any."""
    with reading_session(context.engine) as reading:
        answered, batch = _prepare(reading, context, grant, commands, request, answer, reading=True)
    if write_unless_overtaken(context.engine, batch):
        return answered
    # A case one of these children may duplicate was stored meanwhile: again, in the lock.
    with transaction(context.engine) as session:
        answered, batch = _prepare(session, context, grant, commands, request, answer)
        batch.write(session)
    return answered


def _prepare(
    session: Session,
    context: CasesContext,
    grant: Grant,
    commands: list[RecordCase],
    request: KeyedRequest | None,
    answer: Callable[[list[CaseRecord]], Answer],
    *,
    reading: bool = False,
) -> tuple[Answer, PreparedBatch]:
    batch = CaseBatch(
        session,
        commands,
        context.deps,
        source="/cases",
        correlation_id=current_correlation_id(),
        reading=reading,
    )
    records = [batch.record(command) for command in commands]
    for record in records:
        grant.audit(batch.uow, record.id)
    answered = answer(records)
    if request is not None:
        batch.store.add(request.kept(answered.model_dump_json(), commands[0].received_at))
    return answered, batch.prepared()
