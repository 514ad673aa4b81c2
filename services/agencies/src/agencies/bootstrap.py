"""Composition root of an agency service; one code base, one deployment per agency."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from sqlmodel import SQLModel

from agencies import handlers
from agencies.adapters.tables import BridgeReceipt, InboxReferral, WebhookDelivery
from agencies.adapters.view_keys import CasesViewKeys
from agencies.adapters.webhooks import WebhookSender
from agencies.config import AgencySettings
from chassis.keypairs import Reloading, load_sealer
from chassis.runtime import api_app, open_service, worker_app
from chassis.sealing import PublicSealer
from contracts.agencies.registry import agency_registry

if TYPE_CHECKING:
    from fastapi import FastAPI

    from chassis.worker import ScheduledJob, WorkerApp

TABLES: list[type[SQLModel]] = [InboxReferral, WebhookDelivery, BridgeReceipt]


def _service(settings: AgencySettings) -> str:
    return f"agencies-{settings.agency}"


def _secret(settings: AgencySettings) -> bytes | None:
    return settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else None


def create_api(settings: AgencySettings | None = None) -> FastAPI:
    # The API's own stack, imported here: a worker process never loads it (chassis.runtime).
    from agencies.api import bridge, cases
    from agencies.api.deps import AgencyContext
    from agencies.api.routes import router
    from chassis.service_context import provide_context
    from contracts.access.policy import access_policy

    settings = settings or AgencySettings()
    engine = open_service(settings, _service(settings), TABLES)
    app = api_app(
        settings,
        service=_service(settings),
        title=f"Liên Ngành — {settings.agency} inbox",
        engine=engine,
        routers=[router, cases.router, bridge.router],
        access_rules=access_policy().for_service("agencies", self_agency=settings.agency),
    )
    profile = agency_registry().get(settings.agency)
    assert profile is not None  # the settings checked the registry
    context = AgencyContext(
        agency=settings.agency,
        engine=engine,
        profile=profile,
        view_keys=CasesViewKeys(settings.cases_api_url) if settings.cases_api_url else None,
        intake_sealer=_intake_sealer(settings),
        webhook_secret=_secret(settings),
        webhook_tolerance_s=settings.webhook_tolerance_s,
    )
    provide_context(app, context)
    return app


def _intake_sealer(settings: AgencySettings) -> Callable[[], PublicSealer]:
    """The cases service's intake public key, re-read when it is rotated."""
    path = settings.intake_public_key_path()
    if not path.exists():
        return partial(load_sealer, path)  # refuses each report, naming the missing file
    return Reloading(path, load_sealer).current


def create_worker(settings: AgencySettings | None = None) -> WorkerApp:
    """Consumes only this agency's referrals topic (Kafka ACLs enforce it in deployment)."""
    from chassis.worker import ScheduledJob

    settings = settings or AgencySettings()
    agency = settings.agency
    engine = open_service(settings, _service(settings), TABLES)
    secret = _secret(settings)
    bridged = bool(settings.webhook_url and secret)
    jobs: list[ScheduledJob] = []
    if settings.webhook_url and secret:
        sender = WebhookSender(
            engine, settings.webhook_url, secret, attempts=settings.webhook_attempts
        )
        jobs.append(ScheduledJob("webhooks", settings.webhook_interval_s, sender.run))
    return worker_app(
        settings,
        service=_service(settings),
        engine=engine,
        consumer=f"agencies:{agency}",
        agencies=(agency,),
        subscriptions=handlers.subscriptions(agency, bridged=bridged),
        unhurried=handlers.unhurried(agency),
        jobs=jobs,
    )
