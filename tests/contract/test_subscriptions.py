"""Every service's handler map against the contracts: the topics `contracts/topics.py` says
the service consumes (which drive the Kafka ACLs), and the event types each topic carries
(`contracts/registry.py`). The same check stops a worker at start (`chassis.subscriptions`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.subscriptions import (
    Subscriptions,
    SubscriptionsDiffer,
    check_subscriptions,
    declared_topics_of,
)
from contracts.registry import event_types_on
from contracts.topics import DEFAULT_AGENCIES, REFERRALS_EVENTS, agency_updates_topic


def _cases(tmp_path: Path) -> Subscriptions:
    from cases import handlers
    from cases.bootstrap import case_deps
    from cases.config import CasesSettings

    deps = case_deps(CasesSettings(data_dir=tmp_path))
    return handlers.subscriptions(deps, DEFAULT_AGENCIES)


def _referrals(tmp_path: Path) -> Subscriptions:
    from contracts.agencies.registry import agency_registry
    from referrals import handlers
    from referrals.adapters.policy_file import default_policy_path, load_policy
    from referrals.bootstrap import utc_now

    policy = load_policy(default_policy_path(), agency_registry().codes())
    return handlers.subscriptions(policy, DEFAULT_AGENCIES, utc_now)


def _notifications(tmp_path: Path) -> Subscriptions:
    from notifications import handlers
    from notifications.adapters.directory_store import default_rules_path, load_rules
    from notifications.bootstrap import utc_now

    context = handlers.NotifyContext(load_rules(default_rules_path()), "http://x/inbox", utc_now)
    return handlers.subscriptions(context)


def _reporting(tmp_path: Path) -> Subscriptions:
    from reporting import handlers

    return handlers.subscriptions()


SERVICES = {
    "cases": _cases,
    "referrals": _referrals,
    "notifications": _notifications,
    "reporting": _reporting,
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_core_service_reads_exactly_its_declared_topics(service: str, tmp_path: Path):
    subscriptions = SERVICES[service](tmp_path)
    check_subscriptions(service, subscriptions, DEFAULT_AGENCIES)
    assert set(subscriptions) == declared_topics_of(service, DEFAULT_AGENCIES)


@pytest.mark.parametrize("agency", DEFAULT_AGENCIES)
def test_each_agency_reads_its_own_inbox_topic_only(agency: str):
    from agencies.handlers import subscriptions

    for bridged in (False, True):
        mapped = subscriptions(agency, bridged=bridged)
        check_subscriptions(f"agencies:{agency}", mapped, (agency,))
        [topic] = mapped
        assert set(mapped[topic]) == set(event_types_on(topic))  # every inbox event handled


def test_a_map_that_differs_from_the_contracts_stops_the_worker(tmp_path: Path):
    subscriptions = dict(SERVICES["cases"](tmp_path))
    with pytest.raises(SubscriptionsDiffer, match="subscribed but not declared"):
        check_subscriptions("cases", {**subscriptions, "cases.events.v1": {}}, DEFAULT_AGENCIES)
    without = {t: h for t, h in subscriptions.items() if t != REFERRALS_EVENTS}
    with pytest.raises(SubscriptionsDiffer, match="declared for cases but not subscribed"):
        check_subscriptions("cases", without, DEFAULT_AGENCIES)
    from contracts.cases.v1 import CaseReceived

    stray = {**subscriptions, REFERRALS_EVENTS: {CaseReceived: lambda uow, event: None}}
    with pytest.raises(SubscriptionsDiffer, match="never carries"):
        check_subscriptions("cases", stray, DEFAULT_AGENCIES)


def test_a_worker_with_a_wrong_map_refuses_to_start(tmp_path: Path):
    from cases.config import CasesSettings
    from chassis.db import create_db_engine
    from chassis.runtime import worker_app

    settings = CasesSettings(data_dir=tmp_path)
    wrong = {agency_updates_topic("police"): dict(SERVICES["cases"](tmp_path)[REFERRALS_EVENTS])}
    with pytest.raises(SubscriptionsDiffer):
        worker_app(
            settings,
            service="cases",
            consumer="cases",
            engine=create_db_engine(f"sqlite:///{tmp_path / 'c.db'}"),
            subscriptions=wrong,
        )
