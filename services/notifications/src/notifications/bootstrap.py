"""Composition root of the notifications service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis.runtime import api_app, open_service, worker_app
from notifications import handlers
from notifications.adapters.agency_api import AgencyApi
from notifications.adapters.channels import Sender, SmsGatewaySender, SmtpSender, WebhookSender
from notifications.adapters.directory_store import (
    default_directory_path,
    default_rules_path,
    load_directory,
    load_rules,
    seed_directory,
)
from notifications.adapters.tables import InboxSession, Notification, OfficerRow, utc_now
from notifications.config import NotificationsSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from chassis.worker import ScheduledJob, WorkerApp
    from notifications.delivery import DeliveryLoop

SERVICE = "notifications"
SOURCE = "/notifications"
TABLES: list[type[SQLModel]] = [Notification, OfficerRow, InboxSession]


def open_notifications(settings: NotificationsSettings) -> Engine:
    engine = open_service(settings, SERVICE, TABLES)
    seed_directory(engine, load_directory(settings.directory_file or default_directory_path()))
    return engine


def create_api(settings: NotificationsSettings | None = None) -> FastAPI:
    # The API's own stack, imported here: a worker process never loads it (chassis.runtime).
    from chassis.service_context import provide_context
    from notifications.api.deps import NotificationsContext, Stewardship
    from notifications.api.directory import router as directory_router
    from notifications.api.inbox import FormRefused, InboxHeaders, answer_form_refused
    from notifications.api.inbox import router as inbox_router
    from notifications.api.routes import router

    settings = settings or NotificationsSettings()
    engine = open_notifications(settings)
    app = api_app(
        settings,
        service=SERVICE,
        title="Liên Ngành — notifications",
        engine=engine,
        routers=[router, directory_router, inbox_router],
    )
    stewardship = Stewardship(
        rules=load_rules(settings.rules_file or default_rules_path()),
        webhook_hosts=tuple(settings.webhook_allowed_hosts),
    )
    context = NotificationsContext(
        engine=engine,
        stewardship=stewardship,
        agency_api=AgencyApi(settings.agency_api_urls, settings.send_timeout_s),
        inbox_url=settings.inbox_url,
        inbox_session_max_s=settings.inbox_session_max_s,
    )
    provide_context(app, context)
    app.add_middleware(InboxHeaders)
    app.add_exception_handler(FormRefused, answer_form_refused)
    return app


def delivery_loops(settings: NotificationsSettings, engine: Engine) -> list[DeliveryLoop]:
    """One loop per channel that leaves the building; in-app is delivered when recorded."""
    from notifications.delivery import DeliveryLoop, RetryPolicy

    timeout = settings.send_timeout_s
    senders: dict[str, Sender] = {
        "email": SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            timeout_s=timeout,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
        ),
        "sms": SmsGatewaySender(
            url=settings.sms_gateway_url,
            token=settings.sms_gateway_token,
            sender=settings.sms_sender,
            timeout_s=timeout,
        ),
        "webhook": WebhookSender(secrets=settings.webhook_secrets, timeout_s=timeout),
    }
    retry = RetryPolicy(settings.max_attempts, settings.retry_base_s, settings.retry_max_s)
    return [
        DeliveryLoop(
            engine=engine,
            channel=channel,
            sender=sender,
            retry=retry,
            source=SOURCE,
            concurrency=settings.channel_concurrency,
            lease_s=settings.lease_s,
            send_timeout_s=timeout,
        )
        for channel, sender in senders.items()
    ]


def delivery_jobs(settings: NotificationsSettings, engine: Engine) -> list[ScheduledJob]:
    return [
        loop.job(settings.delivery_interval_s, settings.delivery_idle_interval_s)
        for loop in delivery_loops(settings, engine)
    ]


def create_worker(settings: NotificationsSettings | None = None) -> WorkerApp:
    settings = settings or NotificationsSettings()
    engine = open_notifications(settings)
    rules = load_rules(settings.rules_file or default_rules_path())
    context = handlers.NotifyContext(rules=rules, inbox_url=settings.inbox_url, now=utc_now)
    return worker_app(
        settings,
        service=SERVICE,
        engine=engine,
        consumer=SERVICE,
        subscriptions=handlers.subscriptions(context),
        unhurried=handlers.UNHURRIED,
        jobs=delivery_jobs(settings, engine),
    )
