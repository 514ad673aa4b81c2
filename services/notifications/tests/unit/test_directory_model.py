"""Officer records: addresses must fit their channel; retries back off with jitter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from notifications.delivery import RetryPolicy
from notifications.domain.recipients import ChannelAddress, Officer


def officer(**channels: object) -> Officer:
    return Officer.model_validate(
        {
            "id": "labour-inspector-dn-02",
            "name": "Lý Thị Ngọc Hân",
            "agency": "labour_inspection",
            "role": "inspector",
            "provinces": ["48"],
            "channels": [channels],
        }
    )


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"kind": "email", "address": "not-an-email"}, "valid email"),
        ({"kind": "sms", "address": "0912-abc"}, "valid sms"),
        ({"kind": "webhook", "address": "https://hooks.example.vn/x"}, "secret_ref"),
        ({"kind": "in_app", "address": "x@example.vn"}, "in_app takes no address"),
    ],
)
def test_an_address_that_does_not_fit_its_channel_is_refused(channel, message):
    with pytest.raises(ValidationError, match=message):
        officer(**channel)


def test_a_valid_officer_serves_only_its_provinces():
    valid = officer(kind="sms", address="+84905123456")
    assert valid.channels == (ChannelAddress(kind="sms", address="+84905123456"),)
    assert valid.language == "vi"
    assert valid.serves("48") and not valid.serves("01")


def test_retry_delays_grow_exponentially_within_their_cap_and_vary():
    policy = RetryPolicy(max_attempts=5, base_s=2, max_s=10)
    first = [policy.delay(1) for _ in range(200)]
    fourth = [policy.delay(4) for _ in range(200)]
    assert all(timedelta(0) <= d <= timedelta(seconds=2) for d in first)
    assert all(timedelta(0) <= d <= timedelta(seconds=10) for d in fourth)
    assert max(fourth) > timedelta(seconds=2)  # the ceiling grew past the first one
    assert len(set(first)) > 1  # jitter: replicas do not retry in lockstep
