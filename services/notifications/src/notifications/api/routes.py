"""An officer reads their own notifications: those of the directory entry with their subject
and agency (the access policy's `own_records`)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlmodel import Session, col, select

from chassis.access import Granted
from chassis.api import Offset
from notifications.adapters.tables import Notification, OfficerRow
from notifications.api.deps import EngineDep
from notifications.api.schemas import NotificationOut

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("/me", response_model=list[NotificationOut])
def my_notifications(
    grant: Granted,
    engine: EngineDep,
    limit: int = Query(default=50, ge=1, le=500),
    offset: Offset = 0,
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
