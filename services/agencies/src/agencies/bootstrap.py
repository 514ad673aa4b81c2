"""Composition root of an agency service; one code base, one deployment per agency."""

from __future__ import annotations

from functools import partial

import faust
from fastapi import FastAPI

from agencies import handlers
from agencies.adapters.tables import InboxReferral
from agencies.api.routes import AgencyContext, router
from agencies.config import AgencySettings
from chassis.api import create_service_app
from chassis.consumer import EventProcessor
from chassis.db import check_database
from chassis.logs import configure_logging
from chassis.runtime import load_token_verifier, open_database
from chassis.worker import WorkerSpec, build_worker_app
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import agency_referrals_topic


def _service(settings: AgencySettings) -> str:
    return f"agencies-{settings.agency}"


def create_api(settings: AgencySettings | None = None) -> FastAPI:
    settings = settings or AgencySettings()
    service = _service(settings)
    configure_logging(service, settings.log_level)
    engine = open_database(settings, service, [InboxReferral])
    app = create_service_app(
        service=service,
        title=f"Liên Ngành — {settings.agency} inbox",
        routers=[router],
        readiness_checks=[lambda: check_database(engine)],
    )
    app.state.token_verifier = load_token_verifier(settings)
    app.state.agency = AgencyContext(agency=settings.agency, engine=engine)
    return app


def create_worker(settings: AgencySettings | None = None) -> faust.App:
    """Consumes only this agency's referrals topic (Kafka ACLs enforce it in deployment)."""
    settings = settings or AgencySettings()
    service = _service(settings)
    configure_logging(service, settings.log_level)
    engine = open_database(settings, service, [InboxReferral])
    processor = EventProcessor(
        service=service,
        consumer=f"{service}.referrals",
        engine=engine,
        handlers={
            ReferralRequested: partial(handlers.receive_referral, agency=settings.agency),
            ReferralStateChanged: partial(handlers.follow_state, agency=settings.agency),
        },
    )
    return build_worker_app(
        WorkerSpec(
            service=service,
            group_id=f"lienganh-{service}",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            data_dir=settings.data_dir,
            engine=engine,
            processors={agency_referrals_topic(settings.agency): processor},
            web_port=settings.worker_web_port,
            outbox_poll_interval_s=settings.outbox_poll_interval_s,
        )
    )
