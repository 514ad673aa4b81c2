"""Composition root of the reporting service."""

from __future__ import annotations

import faust
from fastapi import FastAPI

from chassis.calendar import WorkingCalendar
from chassis.runtime import Subscriptions, api_app, open_service, worker_app
from contracts.cases.v1 import CaseDeadlineMissed, CaseMerged, CaseReceived, CaseStageChanged
from contracts.notifications.v1 import NotificationDelivered, NotificationFailed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.topics import CASES_EVENTS, NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from reporting import gauges, handlers
from reporting.adapters.tables import REPORTING_TABLES
from reporting.api.routes import router
from reporting.config import ReportingSettings
from reporting.domain.indicators import PlanClock

SERVICE = "reporting"

# Every event the reporting store follows, and the one function that applies it.
SUBSCRIPTIONS: Subscriptions = {
    CASES_EVENTS: {
        CaseReceived: handlers.record_case,
        CaseStageChanged: handlers.record_stage,
        CaseDeadlineMissed: handlers.record_missed_deadline,
        CaseMerged: handlers.record_merge,
    },
    REFERRALS_EVENTS: {
        ReferralStateChanged: handlers.track_referral,
        ReferralEscalated: handlers.record_escalation,
    },
    NOTIFICATIONS_EVENTS: {
        NotificationDelivered: handlers.record_delivery,
        NotificationFailed: handlers.record_failure,
    },
}


def create_api(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    engine = open_service(settings, SERVICE, REPORTING_TABLES)
    app = api_app(
        settings, service=SERVICE, title="Liên Ngành — reporting", engine=engine, routers=[router]
    )
    app.state.settings = settings
    # One calendar per process: loading a year's holidays is the slow part of a report.
    app.state.plan_clock = PlanClock(WorkingCalendar(), settings.plan_working_days)
    gauges.install(engine, settings.suppression_threshold)
    return app


def create_worker(settings: ReportingSettings | None = None) -> faust.App:
    """Follows every domain event; its relay publishes the audit events of exports."""
    settings = settings or ReportingSettings()
    return worker_app(
        settings,
        service=SERVICE,
        engine=open_service(settings, SERVICE, REPORTING_TABLES),
        subscriptions=SUBSCRIPTIONS,
    )
