"""One function per command or event of the cases service, by step of the national process,
and the worker's whole map from event to handler (`subscriptions`).

Each handler takes a `CaseStore` (`cases.adapters.store`: state and events commit together)
and, where it needs them, the service's `CaseDeps`. The worker's map builds a `SqlStore` over
the unit of work of each event; fast unit tests pass a `MemoryStore`. Domain refusals are
exceptions the API maps to 4xx and the consumer to the DLQ.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from cases.adapters.store import SqlStore
from cases.handlers.consent import record_consent
from cases.handlers.deps import (
    CaseDeps,
    CaseNotFound,
    InvalidReport,
    LinkClosed,
    StaleVersion,
    case_facts,
    load_case,
)
from cases.handlers.duplicates import decide_duplicate
from cases.handlers.intake import open_report, record_case, record_reported_case
from cases.handlers.process import move_stage
from cases.handlers.referral_status import follow_referral
from chassis.subscriptions import Subscriptions, with_store
from contracts.agencies.v1 import CaseReported
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS, agency_updates_topic

__all__ = [
    "CaseDeps",
    "CaseNotFound",
    "InvalidReport",
    "LinkClosed",
    "StaleVersion",
    "case_facts",
    "decide_duplicate",
    "follow_referral",
    "load_case",
    "move_stage",
    "open_report",
    "record_case",
    "record_consent",
    "record_reported_case",
    "subscriptions",
]


# A case following its referrals is read by people, later; no notification waits on it. The
# agencies' case reports are not unhurried: their referrals, and notifications, follow.
UNHURRIED = frozenset({REFERRALS_EVENTS})


def subscriptions(deps: CaseDeps, reporting_agencies: Sequence[str]) -> Subscriptions:
    """The worker's whole map: referral outcomes, and each agency's own case reports."""
    follow = with_store(SqlStore, follow_referral)
    subscribed: dict[str, dict] = {REFERRALS_EVENTS: {ReferralStateChanged: follow}}
    for agency in reporting_agencies:
        report = partial(record_reported_case, topic_agency=agency, deps=deps)
        subscribed[agency_updates_topic(agency)] = {CaseReported: with_store(SqlStore, report)}
    return subscribed
