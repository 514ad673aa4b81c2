"""Authentication, per-agency authorisation, stale versions and bad input, over HTTP."""

from __future__ import annotations

import pytest

from tests.e2e.test_walking_skeleton import report
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture(scope="module")
def police_referral(system: RunningSystem) -> dict:
    hotline = system.token("hotline-operator-hn-02", "hotline_111", ["intake"], ["01"])
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    case_id = system.post("cases", "/cases", hotline, report()).json()["case_id"]

    def find() -> dict:
        inbox = system.get("agency-police", "/referrals", police).json()
        return next(item for item in inbox if item["case_id"] == case_id)

    return eventually(find)


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("cases", "/cases/x"),
        ("agency-police", "/referrals"),
        ("referrals", "/referrals"),
        ("notifications", "/notifications/me"),
        ("reporting", "/summary"),
    ],
)
def test_no_token_is_401(system: RunningSystem, service: str, path: str):
    response = system.get(service, path, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_forged_token_is_401(system: RunningSystem):
    assert system.get("agency-police", "/referrals", "not.a.jwt").status_code == 401


def test_dolisa_cannot_read_the_police_inbox(system: RunningSystem, police_referral: dict):
    dolisa = system.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])
    assert system.get("agency-police", "/referrals", dolisa).status_code == 403
    path = f"/referrals/{police_referral['id']}"
    assert system.get("agency-police", path, dolisa).status_code == 403


def test_dolisa_cannot_accept_a_police_referral(system: RunningSystem, police_referral: dict):
    dolisa = system.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])
    path = f"/referrals/{police_referral['id']}/accept"
    assert system.post("agency-police", path, dolisa, {"version": 1}).status_code == 403


def test_another_provinces_officer_does_not_see_the_referral(
    system: RunningSystem, police_referral: dict
):
    saigon = system.token("police-inspector-hcm-01", "police", ["inspector"], ["79"])
    assert (
        system.get("agency-police", f"/referrals/{police_referral['id']}", saigon).status_code
        == 404
    )
    ids = {r["id"] for r in system.get("agency-police", "/referrals", saigon).json()}
    assert police_referral["id"] not in ids


def test_a_stale_version_is_refused_and_changes_nothing(
    system: RunningSystem, police_referral: dict
):
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    path = f"/referrals/{police_referral['id']}"
    acknowledged = system.post("agency-police", f"{path}/acknowledge", police, {"version": 1})
    assert acknowledged.status_code == 200, acknowledged.text
    stale = system.post("agency-police", f"{path}/accept", police, {"version": 1})
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]
    after = system.get("agency-police", path, police).json()
    assert (after["state"], after["version"]) == ("received", 2)


BAD_INPUTS = [
    ("cases", "/cases", {**report(), "province_code": "99"}, "province_code"),
    ("cases", "/cases", {**report(), "commune_code": "26734"}, "commune_code"),
    ("cases", "/cases", {**report(), "case_type": "kidnapping"}, "case_type"),
    ("cases", "/cases", {**report(), "child": {"sex": "female"}}, "child.full_name"),
    (
        "cases",
        "/cases",
        {**report(), "child": {**report()["child"], "date_of_birth": "2999-01-01"}},
        "child.date_of_birth",
    ),
    ("agency-police", "/referrals/{id}/accept", {"version": 0}, "version"),
    ("agency-police", "/referrals/{id}/accept", {}, "version"),
    ("agency-police", "/referrals/{id}/reject", {"version": 1}, "reason"),
    ("agency-police", "/referrals/{id}/acknowledge", {"version": "one"}, "version"),
]


@pytest.mark.parametrize(("service", "path", "body", "field"), BAD_INPUTS)
def test_bad_input_is_422_naming_the_field(
    system: RunningSystem, police_referral: dict, service: str, path: str, body: dict, field: str
):
    token = system.token("police-inspector-hn-01", "police", ["inspector", "intake"], ["01"])
    response = system.post(service, path.format(id=police_referral["id"]), token, body)
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["detail"]]
    assert any(name.endswith(field) for name in fields), fields


@pytest.mark.parametrize(
    ("service", "path", "params", "field"),
    [
        ("agency-police", "/referrals", {"state": "lost"}, "state"),
        ("agency-police", "/referrals", {"limit": 0}, "limit"),
        ("referrals", "/referrals", {"province_code": "1"}, "province_code"),
        ("notifications", "/notifications/me", {"offset": -1}, "offset"),
    ],
)
def test_bad_query_is_422_naming_the_field(
    system: RunningSystem, service: str, path: str, params: dict, field: str
):
    token = system.token("coordinator-hn-01", "police", ["coordinator", "inspector"], ["01"])
    response = system.get(service, path, token, **params)
    assert response.status_code == 422, response.text
    assert any(error["field"].endswith(field) for error in response.json()["detail"])
