"""The topics each service consumes unhurried, in fuller batches (`chassis.runtime.batch_waits`),
are off the path to an officer's notification: a case report becomes referrals (referrals
reads cases' events and the agencies' case reports, which cases records), and referral
events become notifications. Every hop of that path consumes at the default wait."""

from __future__ import annotations

from importlib import import_module

import pytest

from chassis.subscriptions import declared_topics_of
from contracts.topics import CASES_EVENTS, DEFAULT_AGENCIES, REFERRALS_EVENTS, agency_updates_topic

ON_THE_NOTIFICATION_PATH = {
    ("referrals", CASES_EVENTS),
    ("notifications", REFERRALS_EVENTS),
    *(
        (service, agency_updates_topic(a))
        for a in DEFAULT_AGENCIES
        for service in ("cases", "referrals")
    ),
}
AGENCIES = [f"agencies:{agency}" for agency in DEFAULT_AGENCIES]
SERVICES = ["cases", "referrals", "notifications", "reporting", *AGENCIES]


def unhurried_of(service: str) -> frozenset[str]:
    if service.startswith("agencies:"):
        return import_module("agencies.handlers").unhurried(service.removeprefix("agencies:"))
    # Referrals has none: every topic it reads leads to a notification.
    return getattr(import_module(f"{service}.handlers"), "UNHURRIED", frozenset())


def declared(service: str) -> frozenset[str]:
    return declared_topics_of(service, DEFAULT_AGENCIES)


@pytest.mark.parametrize("service", SERVICES)
def test_no_hop_to_a_notification_is_unhurried(service: str):
    unhurried = unhurried_of(service)
    assert unhurried <= declared(service)
    assert not {(service, topic) for topic in unhurried} & ON_THE_NOTIFICATION_PATH


@pytest.mark.parametrize("service", ["reporting", *AGENCIES])
def test_services_off_the_path_read_every_topic_unhurried(service: str):
    assert unhurried_of(service) == declared(service)


def test_the_hurried_services_keep_their_notification_path_at_the_default_wait():
    assert unhurried_of("cases") == {REFERRALS_EVENTS}
    assert unhurried_of("notifications") == {CASES_EVENTS}
    assert unhurried_of("referrals") == frozenset()
