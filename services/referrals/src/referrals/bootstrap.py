"""Composition root of the referrals service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial

import faust
from fastapi import FastAPI
from sqlmodel import SQLModel

from chassis.consumer import Handler
from chassis.runtime import api_app, open_service, worker_app
from contracts.agencies.v1 import ReferralAccepted, ReferralAcknowledged, ReferralRejected
from contracts.base import EventModel
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
    engine = open_service(settings, SERVICE, TABLES)
    return api_app(
        settings, service=SERVICE, title="Liên Ngành — referrals", engine=engine, routers=[router]
    )


def create_worker(settings: ReferralsSettings | None = None) -> faust.App:
    settings = settings or ReferralsSettings()
    # An invalid policy stops the worker here, naming the place and the problem.
    policy = load_policy(settings.policy_file or default_policy_path(), set(settings.agencies))
    subscriptions: dict[str, Mapping[type[EventModel], Handler]] = {
        CASES_EVENTS: {CaseReceived: partial(handlers.open_referrals, policy=policy, now=utc_now)}
    }
    for agency in settings.agencies:
        apply: Handler = partial(handlers.apply_agency_action, topic_agency=agency, now=utc_now)
        subscriptions[agency_updates_topic(agency)] = {
            ReferralAcknowledged: apply,
            ReferralAccepted: apply,
            ReferralRejected: apply,
        }
    return worker_app(
        settings,
        service=SERVICE,
        engine=open_service(settings, SERVICE, TABLES),
        subscriptions=subscriptions,
    )
