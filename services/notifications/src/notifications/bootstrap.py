"""Composition root of the notifications service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import faust
from fastapi import FastAPI

from chassis.api import create_service_app
from chassis.consumer import EventProcessor
from chassis.db import check_database
from chassis.logs import configure_logging
from chassis.runtime import load_token_verifier, open_database
from chassis.worker import WorkerSpec, build_worker_app
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS
from notifications import handlers
from notifications.adapters.directory_file import default_directory_path, load_directory
from notifications.adapters.tables import Notification
from notifications.api.routes import router
from notifications.config import NotificationsSettings

SERVICE = "notifications"


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_api(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    configure_logging(SERVICE, settings.log_level)
    engine = open_database(settings, SERVICE, [Notification])
    app = create_service_app(
        service=SERVICE,
        title="Liên Ngành — notifications",
        routers=[router],
        readiness_checks=[lambda: check_database(engine)],
    )
    app.state.token_verifier = load_token_verifier(settings)
    app.state.engine = engine
    return app


def create_worker(settings: NotificationsSettings | None = None) -> faust.App:
    settings = settings or NotificationsSettings()
    configure_logging(SERVICE, settings.log_level)
    directory = load_directory(settings.directory_file or default_directory_path())
    engine = open_database(settings, SERVICE, [Notification])
    notify = partial(handlers.notify_referral_change, directory=directory, now=utc_now)
    return build_worker_app(
        WorkerSpec(
            service=SERVICE,
            group_id="lienganh-notifications",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            data_dir=settings.data_dir,
            engine=engine,
            processors={
                REFERRALS_EVENTS: EventProcessor(
                    service=SERVICE,
                    consumer="notifications.referrals",
                    engine=engine,
                    handlers={ReferralStateChanged: notify},
                )
            },
            web_port=settings.worker_web_port,
            outbox_poll_interval_s=settings.outbox_poll_interval_s,
        )
    )
