"""An officer reads their own notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.auth import CurrentPrincipal
from notifications.adapters.tables import Notification


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
    principal: CurrentPrincipal,
    engine: Annotated[Engine, Depends(_engine)],
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[Notification]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.recipient_id == principal.subject)
                .where(Notification.channel == "in_app")
                .order_by(col(Notification.created_at).desc())
                .offset(offset)
                .limit(limit)
            )
        )
