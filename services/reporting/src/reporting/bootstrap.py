"""Composition root of the reporting service."""

from __future__ import annotations

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from chassis.api import create_service_app
from chassis.consumer import EventProcessor, Handler
from chassis.db import check_database
from chassis.logs import configure_logging
from chassis.runtime import load_token_verifier, open_database
from chassis.worker import WorkerSpec, build_worker_app
from contracts.base import EventModel
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
    configure_logging(SERVICE, settings.log_level)
    engine = open_database(settings, SERVICE, TABLES)
    app = create_service_app(
        service=SERVICE,
        title="Liên Ngành — reporting",
        routers=[router],
        readiness_checks=[lambda: check_database(engine)],
    )
    app.state.token_verifier = load_token_verifier(settings)
    app.state.engine = engine
    gauges.install(engine)
    return app


def create_worker(settings: ReportingSettings | None = None) -> faust.App:
    settings = settings or ReportingSettings()
    configure_logging(SERVICE, settings.log_level)
    engine = open_database(settings, SERVICE, TABLES)
    subscriptions: dict[str, dict[type[EventModel], Handler]] = {
        CASES_EVENTS: {CaseReceived: handlers.count_case},
        REFERRALS_EVENTS: {ReferralStateChanged: handlers.track_referral},
        NOTIFICATIONS_EVENTS: {NotificationDelivered: handlers.count_delivery},
    }
    return build_worker_app(
        WorkerSpec(
            service=SERVICE,
            group_id="lienganh-reporting",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            data_dir=settings.data_dir,
            engine=engine,
            processors={
                topic: EventProcessor(
                    service=SERVICE, consumer=f"reporting.{topic}", engine=engine, handlers=table
                )
                for topic, table in subscriptions.items()
            },
            web_port=settings.worker_web_port,
            relay_outbox=False,
            outbox_poll_interval_s=settings.outbox_poll_interval_s,
        )
    )
