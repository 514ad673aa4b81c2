"""What every referrals route needs: the service context. Who may call a route, and in
which provinces, is the access policy's (`chassis.access`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.engine import Engine

from chassis.service_context import context_of
from referrals.domain.routing import RoutingPolicy


@dataclass(frozen=True)
class ReferralsContext:
    engine: Engine
    policy: RoutingPolicy  # deadlines of a move made through the API


Context = Annotated[ReferralsContext, Depends(context_of(ReferralsContext))]
