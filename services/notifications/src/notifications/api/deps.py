"""What every notifications route needs: the service context, and the parts of it routes
take on their own. Who may call a route is the access policy's (`chassis.access`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.engine import Engine

from chassis.service_context import context_of
from notifications.adapters.agency_api import AgencyApi
from notifications.domain.rules import Rules


@dataclass(frozen=True)
class Stewardship:
    """What the directory's rules need from the service: its notification rules and the
    webhook hosts it may call."""

    rules: Rules
    webhook_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotificationsContext:
    engine: Engine
    stewardship: Stewardship
    agency_api: AgencyApi  # the inbox acts through the officer's own agency API
    inbox_url: str  # public address of the web inbox (its origin passes the CSRF check)
    inbox_session_max_s: int


Context = Annotated[NotificationsContext, Depends(context_of(NotificationsContext))]


async def _engine(context: Context) -> Engine:
    return context.engine


async def _stewardship(context: Context) -> Stewardship:
    return context.stewardship


async def _agency_api(context: Context) -> AgencyApi:
    return context.agency_api


EngineDep = Annotated[Engine, Depends(_engine)]
StewardshipDep = Annotated[Stewardship, Depends(_stewardship)]
AgencyApiDep = Annotated[AgencyApi, Depends(_agency_api)]
