"""Composition root of the reporting service."""

from __future__ import annotations

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from chassis.runtime import api_app, open_service, worker_app
from contracts.cases.v1 import CaseReceived
from contracts.notifications.v1 import NotificationDelivered
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import CASES_EVENTS, NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from reporting import gauges, handlers
from reporting.adapters.tables import CaseCount, DeliveryCount, ReferralStatus
from reporting.api.routes import router
from reporting.config import ReportingSettings

SERVICE = "reporting"
TABLES: list[type[SQLModel]] = [CaseCount, ReferralStatus, DeliveryCount]


def create_api(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    engine = open_service(settings, SERVICE, TABLES)
    app = api_app(
        settings, service=SERVICE, title="Liên Ngành — reporting", engine=engine, routers=[router]
    )
    gauges.install(engine)
    return app


def create_worker(settings: ReportingSettings | None = None) -> faust.App:
    """Counts every domain event; it publishes nothing, so it runs no outbox relay."""
    settings = settings or ReportingSettings()
    return worker_app(
        settings,
        service=SERVICE,
        engine=open_service(settings, SERVICE, TABLES),
        subscriptions={
            CASES_EVENTS: {CaseReceived: handlers.count_case},
            REFERRALS_EVENTS: {ReferralStateChanged: handlers.track_referral},
            NOTIFICATIONS_EVENTS: {NotificationDelivered: handlers.count_delivery},
        },
        relay_outbox=False,
    )
