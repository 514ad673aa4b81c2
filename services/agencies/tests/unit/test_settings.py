"""An agency worker's settings: what differs from the services on the notification path."""

from __future__ import annotations

import pytest

from agencies.config import AgencySettings
from chassis.settings import ServiceSettings


def test_an_agency_inbox_waits_longer_for_fuller_batches(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AGENCY_CONSUMER_BATCH_WAIT_S", raising=False)
    monkeypatch.setenv("AGENCY", "police")
    assert AgencySettings().consumer_batch_wait_s == 0.25
    assert ServiceSettings().consumer_batch_wait_s == 0.02


def test_an_operator_sets_an_agency_worker_s_batch_wait(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AGENCY", "dolisa")
    monkeypatch.setenv("AGENCY_CONSUMER_BATCH_WAIT_S", "0.05")
    assert AgencySettings().consumer_batch_wait_s == 0.05
    monkeypatch.setenv("AGENCY_CONSUMER_BATCH_WAIT_S", "-1")
    with pytest.raises(ValueError, match="consumer_batch_wait_s"):
        AgencySettings()
