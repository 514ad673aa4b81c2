"""Composition root of the referrals service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial

import faust
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis.consumer import Handler
from chassis.runtime import api_app, open_service, worker_app
from contracts.access.policy import access_policy
from contracts.agencies.registry import agency_registry
from contracts.base import EventModel
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
)
from contracts.referrals.lifecycle import ACTION_TARGETS
from contracts.topics import CASES_EVENTS, agency_updates_topic
from referrals import handlers
from referrals.adapters.policy_file import default_policy_path, load_policy
from referrals.adapters.tables import (
    CaseIdentityViews,
    ConsentHold,
    ReferralRecord,
    ReferralTransition,
)
from referrals.api.routes import router
from referrals.config import ReferralsSettings
from referrals.deadlines import DeadlineSweep
from referrals.domain.routing import RoutingPolicy

SERVICE = "referrals"
TABLES: list[type[SQLModel]] = [
    ReferralRecord,
    ReferralTransition,
    ConsentHold,
    CaseIdentityViews,
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_routing_policy(settings: ReferralsSettings) -> RoutingPolicy:
    # An invalid policy stops the process here, naming the line and the problem.
    return load_policy(settings.policy_file or default_policy_path(), agency_registry().codes())


def create_api(settings: ReferralsSettings | None = None) -> FastAPI:
    settings = settings or ReferralsSettings()
    engine = open_service(settings, SERVICE, TABLES)
    app = api_app(
        settings,
        service=SERVICE,
        title="Liên Ngành — referrals",
        engine=engine,
        routers=[router],
        access_rules=access_policy().for_service(SERVICE, owner=settings.owner_agency),
    )
    app.state.policy = load_routing_policy(settings)
    return app


def subscriptions(
    settings: ReferralsSettings, policy: RoutingPolicy
) -> dict[str, Mapping[type[EventModel], Handler]]:
    """Which handler each consumed event goes to: the whole map of the worker."""
    subscribed: dict[str, Mapping[type[EventModel], Handler]] = {
        CASES_EVENTS: {
            CaseReceived: partial(handlers.open_referrals, policy=policy, now=utc_now),
            CaseConsentRecorded: partial(handlers.release_consent_hold, policy=policy, now=utc_now),
            CaseMerged: handlers.follow_merge,
            CaseIdentityErased: handlers.erase_views,
        }
    }
    for agency in settings.agencies:
        apply: Handler = partial(
            handlers.apply_agency_action,
            topic_agency=agency,
            registry=agency_registry(),
            policy=policy,
        )
        subscribed[agency_updates_topic(agency)] = dict.fromkeys(ACTION_TARGETS, apply)
    return subscribed


def create_sweep(settings: ReferralsSettings, engine: Engine) -> DeadlineSweep:
    return DeadlineSweep(engine, load_routing_policy(settings))


def create_worker(settings: ReferralsSettings | None = None) -> faust.App:
    settings = settings or ReferralsSettings()
    engine = open_service(settings, SERVICE, TABLES)
    sweep = create_sweep(settings, engine)
    return worker_app(
        settings,
        service=SERVICE,
        engine=engine,
        subscriptions=subscriptions(settings, sweep.policy),
        jobs=[sweep.job(settings.deadline_sweep_interval_s)],
    )
