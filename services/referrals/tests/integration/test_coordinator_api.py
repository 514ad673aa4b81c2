"""Coordinator API over HTTP with real tokens: overdue first, history, cancel, consent holds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from chassis.auth import LocalIssuer
from contracts.cases.v1 import CaseReceived
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import ConsentBasis
from referrals.adapters.tables import ReferralRecord
from referrals.bootstrap import create_api
from referrals.config import ReferralsSettings

from .conftest import Worker


@pytest.fixture
def issuer(settings: ReferralsSettings) -> LocalIssuer:
    issuer = LocalIssuer(settings.data_dir / "keys")
    issuer.public_key_pem()
    return issuer


@pytest.fixture
def api(settings: ReferralsSettings, issuer: LocalIssuer) -> Iterator[TestClient]:
    with TestClient(create_api(settings)) as client:
        yield client


def bearer(issuer: LocalIssuer, agency: str = "dolisa", role: str = "coordinator", p="01"):
    token = issuer.mint(f"{agency}-{role}-01", agency, [role], [p])
    return {"Authorization": f"Bearer {token}"}


def open_case(worker: Worker, **update: object) -> str:
    case = CaseReceived.example().model_copy(update={"case_id": str(uuid.uuid4()), **update})
    worker.deliver(CASES_EVENTS, case)
    return case.case_id


def test_open_referrals_list_overdue_first(worker: Worker, api: TestClient, issuer):
    first, second = open_case(worker), open_case(worker)
    with Session(worker.engine) as session:  # the second case's police referral is late
        session.execute(
            update(ReferralRecord)
            .where(col(ReferralRecord.case_id) == second)
            .where(col(ReferralRecord.agency) == "police")
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        session.commit()
    listed = api.get("/referrals", headers=bearer(issuer)).json()
    assert (listed[0]["case_id"], listed[0]["agency"], listed[0]["overdue"]) == (
        second,
        "police",
        True,
    )
    assert {r["case_id"] for r in listed} == {first, second}
    only_late = api.get("/referrals", params={"overdue": True}, headers=bearer(issuer)).json()
    assert [r["case_id"] for r in only_late] == [second]
    police = api.get(
        "/referrals", params={"agency": "police", "state": "requested"}, headers=bearer(issuer)
    ).json()
    assert {r["agency"] for r in police} == {"police"} and len(police) == 2
    elsewhere = api.get("/referrals", headers=bearer(issuer, p="79")).json()
    assert elsewhere == []


def test_the_sender_cancels_with_a_version_and_a_reason(worker: Worker, api: TestClient, issuer):
    case_id = open_case(worker)
    police = next(
        r
        for r in api.get("/referrals", headers=bearer(issuer)).json()
        if r["case_id"] == case_id and r["agency"] == "police"
    )
    path = f"/referrals/{police['id']}/cancel"
    body = {"version": 1, "reason": "Trẻ đã được gia đình đón về"}
    assert api.post(path, json=body, headers=bearer(issuer, role="case_worker")).status_code == 403
    assert api.post(path, json=body, headers=bearer(issuer, "police")).status_code == 403
    assert api.post(path, json=body, headers=bearer(issuer, p="79")).status_code == 404
    missing = api.post(path, json={"version": 1}, headers=bearer(issuer))
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "body.reason"

    cancelled = api.post(path, json=body, headers=bearer(issuer))
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["version"]) == ("cancelled", 2)
    again = api.post(path, json=body, headers=bearer(issuer))
    assert again.status_code == 409 and "stale version" in again.json()["detail"]

    history = api.get(f"/cases/{case_id}/referrals", headers=bearer(issuer)).json()
    last = next(h for h in history if h["to_state"] == "cancelled")
    assert (last["agency"], last["actor"], last["reason"]) == (
        "police",
        "dolisa-coordinator-01",
        "Trẻ đã được gia đình đón về",
    )
    changes = worker.staged("vn.lienganh.referral.state_changed.v1")
    told = {(e["topic"], e["to_state"]) for e in changes if e["referral_id"] == police["id"]}
    assert ("referrals.events.v1", "cancelled") in told
    assert ("agency.police.referrals.v1", "cancelled") in told
    assert api.get(f"/cases/{case_id}/referrals", headers=bearer(issuer, p="79")).status_code == 404
    audit = worker.staged("vn.lienganh.audit.recorded.v1")
    assert {(e["action"], e["resource_id"], e["detail"]) for e in audit} >= {
        ("update", police["id"], "cancelled by the sender"),
        ("read", case_id, "referral history of the case"),
    }


def test_cases_refused_for_consent_are_visible_to_coordinators(
    worker: Worker, api: TestClient, issuer
):
    case_id = open_case(worker, consent_basis=ConsentBasis.NONE)
    holds = api.get("/consent-holds", headers=bearer(issuer)).json()
    assert [h["case_id"] for h in holds] == [case_id]
    assert holds[0]["reason"].startswith("refused for consent")
    assert api.get("/consent-holds", headers=bearer(issuer, p="79")).json() == []
