"""Producers are strict, readers tolerate the additions the compatibility policy allows."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.agencies.v1 import ReferralCompleted
from contracts.cases.v1 import CaseReceived
from contracts.envelope import decode, encode
from contracts.referrals.v1 import ReferralRequested
from contracts.registry import EVENT_MODELS, read_event

SEALED = ReferralRequested.examples()["with_details"].details["child_name"]


def _payload(model: type[Any]) -> dict[str, Any]:
    payload: dict[str, Any] = model.example().model_dump(mode="json")
    return payload


@pytest.mark.parametrize("ce_type", sorted(EVENT_MODELS))
def test_an_unknown_field_is_ignored_on_read_and_refused_on_construction(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    newer = _payload(model) | {"priority": 2}
    read = model.read(newer)
    assert read == model.example()
    assert not hasattr(read, "priority")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model(**newer)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(newer)


def test_unknown_fields_of_nested_models_are_ignored_on_read_too() -> None:
    payload = _payload(ReferralCompleted)
    payload["outcome"] |= {"children_returned_home": 1}
    assert ReferralCompleted.read(payload).outcome == ReferralCompleted.example().outcome
    with pytest.raises(ValidationError, match=r"outcome\.children_returned_home"):
        ReferralCompleted.model_validate(payload)


def test_a_reader_still_refuses_a_bad_value_of_a_field_it_knows() -> None:
    for field, value in [("case_id", "case-1"), ("age_band", "18-24"), ("province_code", "1")]:
        with pytest.raises(ValidationError, match=field):
            ReferralRequested.read(_payload(ReferralRequested) | {field: value})


def test_a_consumer_reads_a_record_from_a_newer_producer() -> None:
    record = encode(ReferralRequested.example(), topic="agency.police.referrals.v1", source="/t")
    envelope = decode(record)
    newer = envelope.data | {"priority": "high"}
    assert read_event(envelope.type, newer) == ReferralRequested.example()


def test_the_field_policy_binds_producers_not_readers() -> None:
    # Police get a child's name only for trafficking and forced labour.
    payload = _payload(ReferralRequested) | {
        "case_type": "child_labour",
        "details": {"child_name": SEALED},
    }
    with pytest.raises(ValidationError, match=r"does not give police for child_labour"):
        ReferralRequested(**payload)
    # A reader's copy of the policy may be older than the producer's; it minimises itself.
    assert ReferralRequested.read(payload).details == {"child_name": SEALED}
    assert ReferralRequested.model_validate(payload).details == {"child_name": SEALED}


def test_identity_views_follow_the_field_policy_when_produced() -> None:
    payload = _payload(CaseReceived)
    payload["identity_views"] = {"labour_inspection": {"child_name": SEALED}}
    with pytest.raises(ValidationError, match="does not give labour_inspection"):
        CaseReceived(**payload)
    assert CaseReceived.read(payload).identity_views == payload["identity_views"]
