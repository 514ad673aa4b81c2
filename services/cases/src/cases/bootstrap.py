"""Composition root of the cases service: the only place that reads settings and wires I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from cases import handlers
from cases.adapters.intake_requests import forget_answers
from cases.adapters.keyring import LiveKeyring
from cases.adapters.tables import (
    CaseDataKey,
    CaseRecord,
    CaseReferral,
    CaseStageHistory,
    ConsentChange,
    DuplicateLink,
    ImportedRow,
    IntakeRequest,
)
from cases.config import CasesSettings
from cases.deadlines import sweep_missed_clocks
from chassis.keypairs import Reloading, load_opener, load_or_create_keypair
from chassis.runtime import api_app, open_service, worker_app

if TYPE_CHECKING:
    from fastapi import FastAPI

    from chassis.worker import WorkerApp

SERVICE = "cases"
FORGET_INTERVAL_S = 3600.0  # intake answers are kept a day: hourly is close enough
TABLES: list[type[SQLModel]] = [
    CaseRecord,
    CaseDataKey,
    CaseReferral,
    CaseStageHistory,
    ConsentChange,
    DuplicateLink,
    ImportedRow,
    IntakeRequest,
]


def case_deps(settings: CasesSettings) -> handlers.CaseDeps:
    intake_keys = settings.intake_keys_path()
    if settings.intake_keys_file is None:
        load_or_create_keypair(intake_keys)  # the local default; deployments mount theirs
    intake = Reloading(intake_keys, load_opener)
    return handlers.CaseDeps(
        cipher=LiveKeyring(settings.keyring_path()),
        owner_agency=settings.owner_agency,
        dedup_secret=settings.dedup_secret(),
        clocks=settings.clock_policy(),
        intake_opener=intake.current,
    )


def create_api(settings: CasesSettings | None = None) -> FastAPI:
    # The API's own stack, imported here: a worker process never loads it (chassis.runtime).
    from cases.api import batch, duplicates, routes
    from cases.api.deps import CasesContext
    from chassis.service_context import provide_context
    from contracts.access.policy import access_policy

    settings = settings or CasesSettings()
    engine = open_service(settings, SERVICE, TABLES)
    app = api_app(
        settings,
        service=SERVICE,
        title="Liên Ngành — cases",
        engine=engine,
        routers=[routes.router, batch.router, duplicates.router],
        access_rules=access_policy().for_service(SERVICE, owner=settings.owner_agency),
    )
    provide_context(
        app,
        CasesContext(
            engine=engine,
            deps=case_deps(settings),
            identity_grace=timedelta(hours=settings.identity_grace_after_close_hours),
        ),
    )
    return app


def create_worker(settings: CasesSettings | None = None) -> WorkerApp:
    """Relays the outbox, records agencies' case reports, follows referrals, sweeps clocks."""
    from chassis.worker import ScheduledJob

    settings = settings or CasesSettings()
    engine = open_service(settings, SERVICE, TABLES)
    sweep = ScheduledJob(
        name="case-clocks",
        interval_s=settings.deadline_sweep_interval_s,
        run=partial(sweep_missed_clocks, engine),
    )
    forget = ScheduledJob(
        name="intake-answers", interval_s=FORGET_INTERVAL_S, run=partial(_forget_answers, engine)
    )
    return worker_app(
        settings,
        service=SERVICE,
        consumer=SERVICE,
        agencies=settings.reporting_agencies,
        engine=engine,
        subscriptions=handlers.subscriptions(case_deps(settings), settings.reporting_agencies),
        unhurried=handlers.UNHURRIED,
        jobs=[sweep, forget],
        bulk_pacing=settings.bulk_pacing(),
    )


def _forget_answers(engine: Engine, now: datetime) -> int:
    forget_answers(engine, now)
    return 0  # it stages no event
