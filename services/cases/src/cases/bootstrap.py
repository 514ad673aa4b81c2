"""Composition root of the cases service: the only place that reads settings and wires I/O."""

from __future__ import annotations

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from cases import handlers
from cases.adapters.tables import CaseRecord, CaseReferral
from cases.api.routes import CasesContext, router
from cases.config import CasesSettings
from chassis.crypto import load_or_create_keyring
from chassis.runtime import api_app, open_service, worker_app
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS

SERVICE = "cases"
TABLES: list[type[SQLModel]] = [CaseRecord, CaseReferral]


def create_api(settings: CasesSettings | None = None) -> FastAPI:
    settings = settings or CasesSettings()
    engine = open_service(settings, SERVICE, TABLES)
    app = api_app(
        settings, service=SERVICE, title="Liên Ngành — cases", engine=engine, routers=[router]
    )
    app.state.cases = CasesContext(
        engine=engine,
        cipher=load_or_create_keyring(settings.keyring_path()),
        owner_agency=settings.owner_agency,
    )
    return app


def create_worker(settings: CasesSettings | None = None) -> faust.App:
    """Relays the outbox and follows the referrals of each case."""
    settings = settings or CasesSettings()
    return worker_app(
        settings,
        service=SERVICE,
        engine=open_service(settings, SERVICE, TABLES),
        subscriptions={REFERRALS_EVENTS: {ReferralStateChanged: handlers.follow_referral}},
    )
