"""Composition root of the reporting service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chassis.calendar import WorkingCalendar
from chassis.runtime import api_app, open_service, worker_app
from reporting import gauges, handlers
from reporting.adapters.tables import REPORTING_TABLES
from reporting.config import ReportingSettings
from reporting.domain.indicators import PlanClock

if TYPE_CHECKING:
    from fastapi import FastAPI

    from chassis.worker import WorkerApp

SERVICE = "reporting"


def create_api(settings: ReportingSettings | None = None) -> FastAPI:
    # The API's own stack, imported here: a worker process never loads it (chassis.runtime).
    from chassis.service_context import provide_context
    from reporting.api.deps import ReportingContext
    from reporting.api.routes import router

    settings = settings or ReportingSettings()
    engine = open_service(settings, SERVICE, REPORTING_TABLES)
    app = api_app(
        settings, service=SERVICE, title="Liên Ngành — reporting", engine=engine, routers=[router]
    )
    clock = PlanClock(WorkingCalendar(), settings.plan_working_days)
    provide_context(app, ReportingContext(engine=engine, settings=settings, plan_clock=clock))
    gauges.install(engine, settings.suppression_threshold)
    return app


def create_worker(settings: ReportingSettings | None = None) -> WorkerApp:
    """Follows every domain event; its relay publishes the audit events of exports."""
    settings = settings or ReportingSettings()
    return worker_app(
        settings,
        service=SERVICE,
        engine=open_service(settings, SERVICE, REPORTING_TABLES),
        consumer=SERVICE,
        subscriptions=handlers.subscriptions(),
        unhurried=handlers.UNHURRIED,
    )
