"""Composition root of the referrals service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis.runtime import api_app, open_service, worker_app
from contracts.agencies.registry import agency_registry
from referrals import handlers
from referrals.adapters.policy_file import default_policy_path, load_policy
from referrals.adapters.tables import (
    CaseIdentityViews,
    ConsentHold,
    ReferralRecord,
    ReferralTransition,
)
from referrals.config import ReferralsSettings
from referrals.domain.routing import RoutingPolicy

if TYPE_CHECKING:
    from fastapi import FastAPI

    from chassis.worker import WorkerApp
    from referrals.deadlines import DeadlineSweep

SERVICE = "referrals"
TABLES: list[type[SQLModel]] = [
    ReferralRecord,
    ReferralTransition,
    ConsentHold,
    CaseIdentityViews,
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_routing_policy(settings: ReferralsSettings) -> RoutingPolicy:
    # An invalid policy stops the process here, naming the line and the problem.
    return load_policy(settings.policy_file or default_policy_path(), agency_registry().codes())


def create_api(settings: ReferralsSettings | None = None) -> FastAPI:
    # The API's own stack, imported here: a worker process never loads it (chassis.runtime).
    from chassis.service_context import provide_context
    from contracts.access.policy import access_policy
    from referrals.api.deps import ReferralsContext
    from referrals.api.routes import router

    settings = settings or ReferralsSettings()
    engine = open_service(settings, SERVICE, TABLES)
    app = api_app(
        settings,
        service=SERVICE,
        title="Liên Ngành — referrals",
        engine=engine,
        routers=[router],
        access_rules=access_policy().for_service(SERVICE, owner=settings.owner_agency),
    )
    provide_context(app, ReferralsContext(engine=engine, policy=load_routing_policy(settings)))
    return app


def create_sweep(settings: ReferralsSettings, engine: Engine) -> DeadlineSweep:
    from referrals.deadlines import DeadlineSweep

    return DeadlineSweep(engine, load_routing_policy(settings))


def create_worker(settings: ReferralsSettings | None = None) -> WorkerApp:
    settings = settings or ReferralsSettings()
    engine = open_service(settings, SERVICE, TABLES)
    sweep = create_sweep(settings, engine)
    return worker_app(
        settings,
        service=SERVICE,
        engine=engine,
        consumer=SERVICE,
        agencies=settings.agencies,
        subscriptions=handlers.subscriptions(sweep.policy, settings.agencies, utc_now),
        jobs=[sweep.job(settings.deadline_sweep_interval_s)],
    )
