"""Composition root of an agency service; one code base, one deployment per agency."""

from __future__ import annotations

from functools import partial

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from agencies import handlers
from agencies.adapters.tables import InboxReferral
from agencies.api.routes import AgencyContext, router
from agencies.config import AgencySettings
from chassis.runtime import api_app, open_service, worker_app
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import agency_referrals_topic

TABLES: list[type[SQLModel]] = [InboxReferral]


def _service(settings: AgencySettings) -> str:
    return f"agencies-{settings.agency}"


def create_api(settings: AgencySettings | None = None) -> FastAPI:
    settings = settings or AgencySettings()
    engine = open_service(settings, _service(settings), TABLES)
    app = api_app(
        settings,
        service=_service(settings),
        title=f"Liên Ngành — {settings.agency} inbox",
        engine=engine,
        routers=[router],
    )
    app.state.agency = AgencyContext(agency=settings.agency, engine=engine)
    return app


def create_worker(settings: AgencySettings | None = None) -> faust.App:
    """Consumes only this agency's referrals topic (Kafka ACLs enforce it in deployment)."""
    settings = settings or AgencySettings()
    agency = settings.agency
    return worker_app(
        settings,
        service=_service(settings),
        engine=open_service(settings, _service(settings), TABLES),
        subscriptions={
            agency_referrals_topic(agency): {
                ReferralRequested: partial(handlers.receive_referral, agency=agency),
                ReferralStateChanged: partial(handlers.follow_state, agency=agency),
            }
        },
    )
