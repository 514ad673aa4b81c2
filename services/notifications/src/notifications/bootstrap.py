"""Composition root of the notifications service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from chassis.runtime import api_app, open_service, worker_app
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS
from notifications import handlers
from notifications.adapters.directory_file import default_directory_path, load_directory
from notifications.adapters.tables import Notification
from notifications.api.routes import router
from notifications.config import NotificationsSettings

SERVICE = "notifications"
TABLES: list[type[SQLModel]] = [Notification]


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_api(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    engine = open_service(settings, SERVICE, TABLES)
    return api_app(
        settings,
        service=SERVICE,
        title="Liên Ngành — notifications",
        engine=engine,
        routers=[router],
    )


def create_worker(settings: NotificationsSettings | None = None) -> faust.App:
    settings = settings or NotificationsSettings()
    directory = load_directory(settings.directory_file or default_directory_path())
    notify = partial(handlers.notify_referral_change, directory=directory, now=utc_now)
    return worker_app(
        settings,
        service=SERVICE,
        engine=open_service(settings, SERVICE, TABLES),
        subscriptions={REFERRALS_EVENTS: {ReferralStateChanged: notify}},
    )
