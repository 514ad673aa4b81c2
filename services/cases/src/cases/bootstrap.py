"""Composition root of the cases service: the only place that reads settings and wires I/O."""

from __future__ import annotations

import faust
from fastapi import FastAPI

from cases import handlers
from cases.adapters.tables import CaseRecord, CaseReferral
from cases.api.routes import CasesContext, router
from cases.config import CasesSettings
from chassis.api import create_service_app
from chassis.consumer import EventProcessor
from chassis.crypto import load_or_create_keyring
from chassis.db import check_database
from chassis.logs import configure_logging
from chassis.runtime import load_token_verifier, open_database
from chassis.worker import WorkerSpec, build_worker_app
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS

SERVICE = "cases"


def create_api(settings: CasesSettings | None = None) -> FastAPI:
    settings = settings or CasesSettings()
    configure_logging(SERVICE, settings.log_level)
    engine = open_database(settings, SERVICE, [CaseRecord, CaseReferral])
    app = create_service_app(
        service=SERVICE,
        title="Liên Ngành — cases",
        routers=[router],
        readiness_checks=[lambda: check_database(engine)],
    )
    app.state.token_verifier = load_token_verifier(settings)
    app.state.cases = CasesContext(
        engine=engine,
        cipher=load_or_create_keyring(settings.keyring_path()),
        owner_agency=settings.owner_agency,
    )
    return app


def create_worker(settings: CasesSettings | None = None) -> faust.App:
    """Relays the outbox and follows the referrals of each case."""
    settings = settings or CasesSettings()
    configure_logging(SERVICE, settings.log_level)
    engine = open_database(settings, SERVICE, [CaseRecord, CaseReferral])
    return build_worker_app(
        WorkerSpec(
            service=SERVICE,
            group_id="lienganh-cases",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            data_dir=settings.data_dir,
            engine=engine,
            processors={
                REFERRALS_EVENTS: EventProcessor(
                    service=SERVICE,
                    consumer="cases.referrals",
                    engine=engine,
                    handlers={ReferralStateChanged: handlers.follow_referral},
                )
            },
            web_port=settings.worker_web_port,
            outbox_poll_interval_s=settings.outbox_poll_interval_s,
        )
    )
