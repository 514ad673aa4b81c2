"""How long each consumer waits to fill a batch: topics on the path to a notification at
once, the topics a service declares unhurried for a quarter second; both are settings."""

from __future__ import annotations

import pytest

from chassis.runtime import batch_waits
from chassis.settings import ServiceSettings

SUBSCRIBED = {"cases.events.v1": {}, "referrals.events.v1": {}}


def test_only_the_unhurried_topics_wait_longer(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LIENGANH_CONSUMER_BATCH_WAIT_S", raising=False)
    monkeypatch.delenv("LIENGANH_CONSUMER_UNHURRIED_BATCH_WAIT_S", raising=False)
    settings = ServiceSettings()
    assert settings.consumer_batch_wait_s == 0.02
    assert batch_waits(settings, SUBSCRIBED, {"cases.events.v1"}) == {"cases.events.v1": 0.25}
    assert batch_waits(settings, SUBSCRIBED, ()) == {}


def test_an_operator_sets_the_unhurried_wait():
    settings = ServiceSettings(consumer_unhurried_batch_wait_s=1.5)
    assert batch_waits(settings, SUBSCRIBED, set(SUBSCRIBED)) == {
        "cases.events.v1": 1.5,
        "referrals.events.v1": 1.5,
    }
    with pytest.raises(ValueError, match="consumer_unhurried_batch_wait_s"):
        ServiceSettings(consumer_unhurried_batch_wait_s=9)


def test_an_unhurried_topic_the_service_does_not_consume_is_a_mistake():
    with pytest.raises(ValueError, match="unhurried topics it does not consume"):
        batch_waits(ServiceSettings(), SUBSCRIBED, {"notifications.events.v1"})
