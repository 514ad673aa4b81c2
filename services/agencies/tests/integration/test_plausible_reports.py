"""What an agency reports or bridges in is plausible: a child's real name and date of birth,
and no update dated in the future. Refusals are 422s naming the field; nothing is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts.agencies.v1 import ReferralAccepted

from .conftest import Agency
from .test_https_bridge import signed

REPORT = {
    "channel": "police",
    "case_type": "child_trafficking",
    "risk_level": "urgent",
    "province_code": "01",
    "commune_code": "00070",
    "child": {"full_name": "Giàng Thị Sua", "sex": "female", "date_of_birth": "2011-05-04"},
    "legal_override_reason": "Bộ luật Tố tụng hình sự: bảo vệ bị hại",
}


@pytest.mark.parametrize(
    ("child", "field"),
    [
        ({"full_name": "  ", "sex": "female"}, "body.child.full_name"),
        ({"full_name": "0912 345 678", "sex": "female"}, "body.child.full_name"),
        (
            {"full_name": "Sua", "sex": "female", "date_of_birth": "1800-01-01"},
            "body.child.date_of_birth",
        ),
        (
            {"full_name": "Sua", "sex": "female", "date_of_birth": "2999-01-01"},
            "body.child.date_of_birth",
        ),
    ],
)
def test_an_implausible_child_is_not_reported(police: Agency, child: dict, field: str):
    answer = police.api.post("/cases", json={**REPORT, "child": child}, headers=police.headers())
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["detail"]] == [field]
    assert police.sent() == []


def _update(police: Agency, **changes: object) -> bytes:
    referral = police.new_referral()
    accepted = ReferralAccepted(
        referral_id=referral.referral_id,
        case_id=referral.case_id,
        agency="police",
        expected_version=1,
        actor="police-system-bridge",
        occurred_at=datetime.now(UTC),
    )
    data = {**accepted.model_dump(mode="json"), **changes}
    return json.dumps({"type": accepted.ce_type, "data": data}).encode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "occurred_at"),
        ({"occurred_at": "2026-11-02T08:40:00"}, "occurred_at"),  # no UTC offset
        ({"expected_version": "one"}, "expected_version"),
    ],
)
def test_a_bridged_update_that_is_implausible_is_422_in_the_chassis_format(
    police: Agency, changes: dict, field: str
):
    body = _update(police, **changes)
    answer = police.api.post("/bridge/updates", content=body, headers=signed(body))
    assert answer.status_code == 422, answer.text
    payload = answer.json()
    assert [error["field"] for error in payload["detail"]] == [f"body.data.{field}"]
    assert payload["message"] == f"invalid field(s): body.data.{field}"
    assert police.sent() == []


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"type": "vn.lienganh.nope.v1"}'])
def test_a_bridged_body_that_is_no_update_is_422_naming_it(police: Agency, body: bytes):
    answer = police.api.post("/bridge/updates", content=body, headers=signed(body))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["field"] in {"body", "body.type"}
