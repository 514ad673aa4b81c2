"""Admin API of the officers directory: who is told, on which channels, in which language.

An admin manages the officers of their own agency in their own provinces (the access
policy's `own_agency` scope, applied here through `stewardship`); webhooks must point at an
allow-listed HTTPS host; a change that would leave a notification rule with nobody to tell
where it had somebody is refused (409), naming what would go unheard.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from chassis.access import Grant, Granted
from chassis.api import error_responses
from chassis.db import transaction
from notifications.adapters.directory_store import all_officers, to_officer, to_row
from notifications.adapters.tables import OfficerRow, utc_now
from notifications.api.deps import EngineDep, Stewardship, StewardshipDep
from notifications.api.schemas import OfficerUpdate
from notifications.domain.recipients import Officer
from notifications.domain.rules import Rules
from notifications.domain.stewardship import Admin, lost_coverage, manages, webhook_problems

_UNHEARD = "A notification rule would be left with nobody to tell (the message names it)."
router = APIRouter(prefix="/directory/officers", tags=["directory"])


def _whole_officer(officer_id: str, body: OfficerUpdate) -> Officer:
    """Re-validated as a whole Officer, so the same rules apply as on creation (a 422
    naming the path's id or the body's field)."""
    try:
        return Officer.model_validate({"id": officer_id, **body.model_dump()})
    except ValidationError as error:
        raise RequestValidationError(
            [
                {
                    **issue,
                    "loc": ("path", "officer_id")
                    if issue["loc"][:1] == ("id",)
                    else ("body", *issue["loc"]),
                }
                for issue in error.errors()
            ]
        ) from None


def _admin(grant: Grant) -> Admin:
    return Admin(grant.officer.agency, grant.officer.provinces)


@router.get("", response_model=list[Officer])
def list_officers(grant: Granted, engine: EngineDep) -> list[Officer]:
    admin = _admin(grant)
    with Session(engine) as session:
        return [officer for officer in all_officers(session) if manages(admin, officer)]


@router.get("/{officer_id}", response_model=Officer)
def read_officer(officer_id: str, grant: Granted, engine: EngineDep) -> Officer:
    with Session(engine) as session:
        return _managed(grant, session.get(OfficerRow, officer_id), officer_id)


@router.post(
    "",
    response_model=Officer,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses({409: "An officer with this id exists."}),
)
def create_officer(
    officer: Officer, grant: Granted, engine: EngineDep, stewardship: StewardshipDep
) -> Officer:
    _check_new(grant, officer, stewardship)
    try:
        with transaction(engine) as session:
            if session.get(OfficerRow, officer.id) is not None:
                raise HTTPException(status.HTTP_409_CONFLICT, f"officer {officer.id} exists")
            session.add(to_row(officer, utc_now()))
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"officer {officer.id} exists") from None
    return officer


@router.put("/{officer_id}", response_model=Officer, responses=error_responses({409: _UNHEARD}))
def replace_officer(
    officer_id: str,
    body: OfficerUpdate,
    grant: Granted,
    engine: EngineDep,
    stewardship: StewardshipDep,
) -> Officer:
    officer = _whole_officer(officer_id, body)
    _check_new(grant, officer, stewardship)
    with transaction(engine) as session:
        row = session.get(OfficerRow, officer_id)
        _managed(grant, row, officer_id)
        assert row is not None
        _keep_coverage(session, stewardship.rules, replaced=officer_id, by=officer)
        for field, value in to_row(officer, utc_now()).model_dump().items():
            setattr(row, field, value)
        session.add(row)
    return officer


@router.delete(
    "/{officer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses({409: _UNHEARD}),
)
def delete_officer(
    officer_id: str, grant: Granted, engine: EngineDep, stewardship: StewardshipDep
) -> Response:
    with transaction(engine) as session:
        row = session.get(OfficerRow, officer_id)
        _managed(grant, row, officer_id)
        _keep_coverage(session, stewardship.rules, replaced=officer_id, by=None)
        session.delete(row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _managed(grant: Grant, row: OfficerRow | None, officer_id: str) -> Officer:
    """The officer, if this admin manages them: another agency's is not disclosed (404)."""
    officer = to_officer(row) if row is not None else None
    if officer is None or not manages(_admin(grant), officer):
        raise grant.refuse(404, "officer not found", resource_id=officer_id)
    return officer


def _check_new(grant: Grant, officer: Officer, stewardship: Stewardship) -> None:
    if not manages(_admin(grant), officer):
        raise grant.refuse(
            403,
            "agency and provinces: you may only manage officers of your agency in your provinces",
            resource_id=officer.id,
        )
    problems = webhook_problems(officer, stewardship.webhook_hosts)
    if problems:
        raise RequestValidationError(
            [
                {"loc": ("body", "channels"), "msg": problem, "type": "webhook"}
                for problem in problems
            ]
        )


def _keep_coverage(session: Session, rules: Rules, *, replaced: str, by: Officer | None) -> None:
    before = all_officers(session)
    after = [o for o in before if o.id != replaced] + ([by] if by is not None else [])
    lost = lost_coverage(rules, before, after)
    if lost:
        unheard = "; ".join(
            f"{c.kind} for {c.agency or 'any agency'} in province {c.province}" for c in lost[:5]
        )
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"nobody would be told of: {unheard}; add another officer first",
        )
