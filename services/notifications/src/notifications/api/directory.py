"""Admin API of the officers directory: who is told, on which channels, in which language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from chassis.auth import Principal, require_roles
from chassis.db import transaction
from notifications.adapters.directory_store import all_officers, to_officer, to_row
from notifications.adapters.tables import OfficerRow, utc_now
from notifications.domain.recipients import ChannelAddress, Language, Officer, Role


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(_engine)]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
router = APIRouter(prefix="/directory/officers", tags=["directory"])


class OfficerUpdate(BaseModel):
    """Everything but the id, which names the officer for good."""

    model_config = ConfigDict(extra="forbid")

    name: str
    agency: str
    role: Role
    provinces: tuple[str, ...]
    language: Language = "vi"
    channels: tuple[ChannelAddress, ...] = (ChannelAddress(kind="in_app"),)


@router.get("", response_model=list[Officer])
def list_officers(admin: Admin, engine: EngineDep) -> list[Officer]:
    with Session(engine) as session:
        return all_officers(session)


@router.get("/{officer_id}", response_model=Officer)
def read_officer(officer_id: str, admin: Admin, engine: EngineDep) -> Officer:
    with Session(engine) as session:
        row = session.get(OfficerRow, officer_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "officer not found")
        return to_officer(row)


@router.post("", response_model=Officer, status_code=status.HTTP_201_CREATED)
def create_officer(officer: Officer, admin: Admin, engine: EngineDep) -> Officer:
    try:
        with transaction(engine) as session:
            if session.get(OfficerRow, officer.id) is not None:
                raise HTTPException(status.HTTP_409_CONFLICT, f"officer {officer.id} exists")
            session.add(to_row(officer, utc_now()))
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"officer {officer.id} exists") from None
    return officer


@router.put("/{officer_id}", response_model=Officer)
def replace_officer(
    officer_id: str, body: OfficerUpdate, admin: Admin, engine: EngineDep
) -> Officer:
    # Re-validated as a whole Officer, so the same rules apply as on creation.
    officer = Officer.model_validate({"id": officer_id, **body.model_dump()})
    with transaction(engine) as session:
        row = session.get(OfficerRow, officer_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "officer not found")
        for field, value in to_row(officer, utc_now()).model_dump().items():
            setattr(row, field, value)
        session.add(row)
    return officer


@router.delete("/{officer_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_officer(officer_id: str, admin: Admin, engine: EngineDep) -> Response:
    with transaction(engine) as session:
        row = session.get(OfficerRow, officer_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "officer not found")
        session.delete(row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
