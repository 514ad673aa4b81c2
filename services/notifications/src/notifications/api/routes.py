"""An officer reads their own notifications: those of the directory entry with their subject
and agency (the access policy's `own_records`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.access import Granted
from notifications.adapters.tables import Notification, OfficerRow


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    channel: str
    status: str
    case_id: str
    referral_id: str | None
    province_code: str
    source_event_type: str
    created_at: datetime
    read_at: datetime | None


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("/me", response_model=list[NotificationOut])
def my_notifications(
    grant: Granted,
    engine: Annotated[Engine, Depends(_engine)],
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[Notification]:
    officer = grant.officer
    with Session(engine) as session:
        entry = session.get(OfficerRow, officer.subject)
        if entry is None or entry.agency != officer.agency:
            return []  # a token whose subject is another agency's officer reads nothing
        return list(
            session.exec(
                select(Notification)
                .where(Notification.recipient_id == officer.subject)
                .where(Notification.channel == "in_app")
                .order_by(col(Notification.created_at).desc())
                .offset(offset)
                .limit(limit)
            )
        )
