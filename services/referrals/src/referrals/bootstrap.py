"""Composition root of the referrals service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from chassis.api import create_service_app
from chassis.consumer import EventProcessor
from chassis.db import check_database
from chassis.logs import configure_logging
from chassis.runtime import load_token_verifier, open_database
from chassis.worker import WorkerSpec, build_worker_app
from contracts.agencies.v1 import ReferralAccepted, ReferralAcknowledged, ReferralRejected
from contracts.cases.v1 import CaseReceived
from contracts.topics import CASES_EVENTS, agency_updates_topic
from referrals import handlers
from referrals.adapters.policy_file import default_policy_path, load_policy
from referrals.adapters.tables import ReferralRecord, ReferralTransition
from referrals.api.routes import router
from referrals.config import ReferralsSettings

SERVICE = "referrals"
TABLES: list[type[SQLModel]] = [ReferralRecord, ReferralTransition]


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_api(settings: ReferralsSettings | None = None) -> FastAPI:
    settings = settings or ReferralsSettings()
    configure_logging(SERVICE, settings.log_level)
    engine = open_database(settings, SERVICE, TABLES)
    app = create_service_app(
        service=SERVICE,
        title="Liên Ngành — referrals",
        routers=[router],
        readiness_checks=[lambda: check_database(engine)],
    )
    app.state.token_verifier = load_token_verifier(settings)
    app.state.engine = engine
    return app


def create_worker(settings: ReferralsSettings | None = None) -> faust.App:
    settings = settings or ReferralsSettings()
    configure_logging(SERVICE, settings.log_level)
    policy = load_policy(settings.policy_file or default_policy_path(), set(settings.agencies))
    engine = open_database(settings, SERVICE, TABLES)
    processors = {
        CASES_EVENTS: EventProcessor(
            service=SERVICE,
            consumer="referrals.cases",
            engine=engine,
            handlers={CaseReceived: partial(handlers.open_referrals, policy=policy, now=utc_now)},
        )
    }
    for agency in settings.agencies:
        apply = partial(handlers.apply_agency_action, topic_agency=agency, now=utc_now)
        processors[agency_updates_topic(agency)] = EventProcessor(
            service=SERVICE,
            consumer=f"referrals.updates.{agency}",
            engine=engine,
            handlers={
                ReferralAcknowledged: apply,
                ReferralAccepted: apply,
                ReferralRejected: apply,
            },
        )
    return build_worker_app(
        WorkerSpec(
            service=SERVICE,
            group_id="lienganh-referrals",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            data_dir=settings.data_dir,
            engine=engine,
            processors=processors,
            web_port=settings.worker_web_port,
            outbox_poll_interval_s=settings.outbox_poll_interval_s,
        )
    )
