"""`POST /bridge/updates`: the HTTPS bridge's way in, for an agency without a Kafka client.

A signed update (see adapters/webhooks.py) goes down the same path as an officer's action
in the inbox API and ends on the agency's Kafka updates topic like any other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from agencies import handlers
from agencies.adapters.store import SqlStore
from agencies.adapters.tables import BridgeReceipt
from agencies.api.deps import AgencyContext, Context
from agencies.api.schemas import BridgeAccepted
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from chassis.api import error_responses, invalid
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from chassis.webhook_signature import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadSignature,
    verify,
)
from contracts.agencies.v1 import CaseReported, ReferralAction
from contracts.registry import UnknownEventType, model_for

router = APIRouter(prefix="/bridge", tags=["https bridge"])


@router.post(
    "/updates",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BridgeAccepted,
    responses=error_responses(
        {
            400: f"No {IDEMPOTENCY_HEADER} header (8 to 200 characters).",
            401: "The signature or its timestamp is missing, wrong or too old.",
            403: "The update is another agency's.",
            404: "The HTTPS bridge is not enabled, or the referral is unknown.",
            409: "The idempotency key was used before, the version is stale, or the "
            "referral's state forbids the action.",
        }
    ),
)
async def receive_update(request: Request, context: Context) -> BridgeAccepted:
    if context.webhook_secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the HTTPS bridge is not enabled")
    body = await request.body()
    try:
        verify(
            context.webhook_secret,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            now=datetime.now(UTC),
            tolerance_s=context.webhook_tolerance_s,
        )
    except BadSignature as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    tolerance = timedelta(seconds=context.webhook_tolerance_s)
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if not 8 <= len(key) <= 200:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{IDEMPOTENCY_HEADER} is required")
    event = _parse(body, context.agency, latest=datetime.now(UTC) + tolerance)
    # The database work is synchronous: off the event loop, like every sync route's.
    await run_in_threadpool(_apply, context, key, event)
    return BridgeAccepted(idempotency_key=key, type=event.ce_type)


def _parse(body: bytes, agency: str, *, latest: datetime) -> ReferralAction | CaseReported:
    """`{"type": "<ce type>", "data": {...}}` with an agency update of this agency, dated no
    later than `latest`. Errors are 422s in the chassis format, naming the field."""
    try:
        message = json.loads(body)
    except ValueError:
        raise invalid(message="not a JSON object", kind="json_invalid") from None
    if not isinstance(message, dict):
        raise invalid(message="not a JSON object", kind="json_invalid")
    try:
        model = model_for(str(message.get("type")))
    except UnknownEventType as error:
        raise invalid("type", message=str(error), kind="unknown_type") from None
    if not issubclass(model, ReferralAction | CaseReported):
        message = f"{model.ce_type} is not an agency update"
        raise invalid("type", message=message, kind="unknown_type")
    try:
        # Read as a consumer reads: an agency's system may already send the optional
        # fields a newer contract adds.
        event = model.read(message.get("data"))
    except ValidationError as error:
        raise RequestValidationError(
            [{**issue, "loc": ("body", "data", *issue["loc"])} for issue in error.errors()]
        ) from None
    assert isinstance(event, ReferralAction | CaseReported)
    field = "reported_at" if isinstance(event, CaseReported) else "occurred_at"
    dated: datetime = getattr(event, field)
    if dated.tzinfo is None:
        raise invalid(f"data.{field}", message="needs a UTC offset")
    if dated > latest:
        raise invalid(f"data.{field}", message="is in the future")
    if event.agency != agency:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this bridge serves {agency} only")
    return event


def _apply(context: AgencyContext, key: str, event: ReferralAction | CaseReported) -> None:
    with unit_of_work(
        context.engine,
        source=f"/agencies/{context.agency}",
        correlation_id=current_correlation_id(),
    ) as uow:
        if uow.session.get(BridgeReceipt, key) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, "replayed: this key was already used")
        uow.session.add(BridgeReceipt(idempotency_key=key, received_at=datetime.now(UTC)))
        try:
            if isinstance(event, CaseReported):
                handlers.report_case(uow, event, agency=context.agency)
            else:
                handlers.act_on_referral(SqlStore(uow), event, agency=context.agency)
        except handlers.ReferralNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found") from None
        except (StaleVersion, ForbiddenTransition) as conflict:
            raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
