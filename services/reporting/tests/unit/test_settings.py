"""Reporting's settings: what differs from every other service's defaults."""

from __future__ import annotations

import pytest

from chassis.settings import ServiceSettings
from reporting.config import ReportingSettings


def test_reporting_waits_longer_for_fuller_batches_than_services_on_the_notification_path(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("REPORTING_CONSUMER_BATCH_WAIT_S", raising=False)
    monkeypatch.delenv("LIENGANH_CONSUMER_BATCH_WAIT_S", raising=False)
    assert ReportingSettings().consumer_batch_wait_s == 0.25
    assert ServiceSettings().consumer_batch_wait_s == 0.02


def test_the_batch_wait_is_an_operator_setting(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REPORTING_CONSUMER_BATCH_WAIT_S", "0.05")
    assert ReportingSettings().consumer_batch_wait_s == 0.05
    monkeypatch.setenv("REPORTING_CONSUMER_BATCH_WAIT_S", "9")
    with pytest.raises(ValueError, match="consumer_batch_wait_s"):
        ReportingSettings()
