"""The agency inbox API: filters, pagination, every action, versions, outcomes, and access."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session

from chassis.keypairs import load_opener
from contracts.agencies.v1 import ReportedIdentity
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import agency_updates_topic
from contracts.vocabulary import ReferralState

from .conftest import Agency, audited


def post(police: Agency, referral_id: str, action: str, body: dict, **kw) -> httpx.Response:
    return police.api.post(
        f"/referrals/{referral_id}/{action}", json=body, headers=police.headers(**kw)
    )


def test_the_inbox_filters_by_state_province_and_overdue_and_pages(police: Agency):
    past = datetime.now(UTC) - timedelta(hours=1)
    late = police.new_referral(accept_by=past)
    hanoi = [police.new_referral() for _ in range(3)]
    hcm = police.new_referral(province_code="79", commune_code="26506")
    everywhere = police.headers(provinces=("*",))

    listed = police.api.get("/referrals", headers=everywhere).json()
    assert listed[0]["id"] == late.referral_id  # most urgent first
    assert len(listed) == 5
    overdue = police.api.get("/referrals", params={"overdue": True}, headers=everywhere).json()
    assert [r["id"] for r in overdue] == [late.referral_id] and overdue[0]["overdue"] is True
    in_hcm = police.api.get("/referrals", params={"province_code": "79"}, headers=everywhere)
    assert [r["id"] for r in in_hcm.json()] == [hcm.referral_id]
    page = police.api.get("/referrals", params={"limit": 2, "offset": 1}, headers=everywhere)
    assert [r["id"] for r in page.json()] == [r["id"] for r in listed[1:3]]
    # An officer of Hà Nội sees Hà Nội only, and not HCM's referral in detail either.
    mine = police.api.get("/referrals", headers=police.headers()).json()
    assert {r["id"] for r in mine} == {late.referral_id, *(r.referral_id for r in hanoi)}
    detail = police.api.get(f"/referrals/{hcm.referral_id}", headers=police.headers())
    assert detail.status_code == 404
    post(police, hanoi[0].referral_id, "accept", {"version": 1})
    accepted = police.api.get(
        "/referrals", params={"state": "accepted"}, headers=police.headers()
    ).json()
    assert [r["id"] for r in accepted] == [hanoi[0].referral_id]


def test_every_action_goes_to_the_updates_topic_with_its_version(police: Agency):
    referral = police.new_referral()
    rid = referral.referral_id
    steps = [
        ("acknowledge", {"version": 1}, "received"),
        ("accept", {"version": 2}, "accepted"),
        ("start", {"version": 3}, "in-progress"),
        ("hold", {"version": 4, "reason": "Chờ giám định"}, "on-hold"),
        ("resume", {"version": 5}, "in-progress"),
        (
            "complete",
            {"version": 6, "outcome": {"investigation_opened": True, "suspects_identified": 2}},
            "completed",
        ),
    ]
    for action, body, state in steps:
        answer = post(police, rid, action, body)
        assert answer.status_code == 200, (action, answer.text)
        assert (answer.json()["state"], answer.json()["version"]) == (state, body["version"] + 1)
    sent = police.sent()
    assert {e["topic"] for e in sent} == {agency_updates_topic("police")}
    assert [e["expected_version"] for e in sent] == [1, 2, 3, 4, 5, 6]
    assert sent[-1]["outcome"]["suspects_identified"] == 2
    assert sent[3]["reason"] == "Chờ giám định"
    updates = [e for e in audited(police) if e["action"] == "update"]
    assert [e["detail"] for e in updates][-1] == "vn.lienganh.referral.completed.v1"
    assert len(updates) == 6 and {e["resource_id"] for e in updates} == {rid}


def test_failing_and_rejecting_need_a_reason(police: Agency):
    referral = police.new_referral()
    missing = post(police, referral.referral_id, "reject", {"version": 1})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "body.reason"
    rejected = post(
        police, referral.referral_id, "reject", {"version": 1, "reason": "Ngoài địa bàn"}
    )
    assert rejected.json()["state"] == "rejected"
    assert (
        post(police, referral.referral_id, "fail", {"version": 2, "reason": "x" * 5}).status_code
        == 409
    )


def test_an_outcome_field_of_another_agency_is_refused_naming_it(police: Agency):
    referral = police.new_referral()
    for version, action in enumerate(("accept", "start"), start=1):
        post(police, referral.referral_id, action, {"version": version})
    wrong = post(
        police,
        referral.referral_id,
        "complete",
        {"version": 3, "outcome": {"investigation_opened": True, "school_name": "THCS Kim Liên"}},
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["field"] == "body.outcome.school_name"
    assert "investigation_opened" in wrong.json()["detail"][0]["message"]
    assert police.sent("vn.lienganh.referral.completed.v1") == []


def test_a_transfer_names_a_registered_agency(police: Agency):
    referral = police.new_referral()
    unknown = post(
        police,
        referral.referral_id,
        "transfer",
        {"version": 1, "to_agency": "army", "reason": "..."},
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "body.to_agency"
    moved = post(
        police,
        referral.referral_id,
        "transfer",
        {"version": 1, "to_agency": "labour_inspection", "reason": "Vụ việc lao động"},
    )
    assert moved.status_code == 200 and moved.json()["state"] == "rejected"
    [sent] = police.sent("vn.lienganh.referral.transferred.v1")
    assert (sent["to_agency"], sent["expected_version"]) == ("labour_inspection", 1)


def test_a_stale_version_is_a_conflict(police: Agency):
    referral = police.new_referral()
    assert post(police, referral.referral_id, "acknowledge", {"version": 1}).status_code == 200
    stale = post(police, referral.referral_id, "accept", {"version": 1})
    assert stale.status_code == 409 and "version 2, not 1" in stale.json()["detail"]


def test_two_officers_accepting_and_rejecting_at_once_exactly_one_wins(police: Agency):
    referral = police.new_referral()
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def act(action: str, body: dict) -> None:
        barrier.wait()
        answers[action] = post(police, referral.referral_id, action, body).status_code

    threads = [
        threading.Thread(target=act, args=("accept", {"version": 1})),
        threading.Thread(target=act, args=("reject", {"version": 1, "reason": "Không phù hợp"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers.values()) == [200, 409]
    assert len(police.sent()) == 1


def test_another_agencys_officer_cannot_read_or_act(police: Agency):
    referral = police.new_referral()
    dolisa = police.headers(role="case_worker", agency="dolisa")
    assert police.api.get("/referrals", headers=dolisa).status_code == 403
    assert police.api.get(f"/referrals/{referral.referral_id}", headers=dolisa).status_code == 403
    answer = police.api.post(
        f"/referrals/{referral.referral_id}/accept", json={"version": 1}, headers=dolisa
    )
    assert answer.status_code == 403
    no_role = post(police, referral.referral_id, "accept", {"version": 1}, role="viewer")
    assert no_role.status_code == 403
    assert police.sent() == []
    denied = [e for e in audited(police) if e["outcome"] == "denied"]
    assert {(e["actor"], e["action"], e["resource_id"]) for e in denied} == {
        ("dolisa-case_worker-01", "read", "*"),
        ("dolisa-case_worker-01", "read", referral.referral_id),
        ("dolisa-case_worker-01", "update", referral.referral_id),
        ("police-viewer-01", "update", referral.referral_id),  # every refusal is audited
    }


def test_the_authoritative_state_wins_over_a_local_action(police: Agency):
    """The coordinator cancelled while the officer accepted: the referrals service decides."""
    referral = police.new_referral()
    post(police, referral.referral_id, "accept", {"version": 1})
    cancelled = ReferralStateChanged.example().model_copy(
        update={
            "referral_id": referral.referral_id,
            "case_id": referral.case_id,
            "from_state": ReferralState.REQUESTED,
            "to_state": ReferralState.CANCELLED,
            "version": 2,
            "actor": "dolisa-coordinator-01",
            "reason": "Trẻ đã an toàn",
            "deadline": None,
        }
    )
    police.deliver(cancelled)
    now = police.api.get(f"/referrals/{referral.referral_id}", headers=police.headers()).json()
    assert (now["state"], now["version"], now["last_reason"]) == ("cancelled", 2, "Trẻ đã an toàn")
    assert now["overdue"] is False and now["due_at"] is None


def test_an_agency_reports_a_new_case_through_its_updates_topic(police: Agency):
    report = {
        "channel": "police",
        "case_type": "child_trafficking",
        "risk_level": "urgent",
        "province_code": "01",
        "commune_code": "00070",
        "child": {"full_name": "Giàng Thị Sua", "sex": "female", "date_of_birth": "2011-05-04"},
        "signs_of_forced_labour": True,
        "legal_override_reason": "Bộ luật Tố tụng hình sự: bảo vệ bị hại",
        "summary": "Phát hiện tại bến xe phía Bắc.",
    }
    answer = police.api.post("/cases", json=report, headers=police.headers())
    assert answer.status_code == 202, answer.text
    [sent] = police.sent("vn.lienganh.agency.case_reported.v1")
    assert sent["topic"] == agency_updates_topic("police")
    assert (sent["case_id"], sent["agency"], sent["reported_by"]) == (
        answer.json()["case_id"],
        "police",
        "police-inspector-01",
    )
    # Sealed for the cases service alone, before the outbox: no name, no summary in clear.
    assert "Giàng" not in str(sent) and "bến xe" not in str(sent) and "child" not in sent
    opener = load_opener(police.issuer.key_dir / "cases-intake.private.json")
    context = ReportedIdentity.context(sent["case_id"], "police")
    opened = ReportedIdentity.model_validate_json(
        opener.open(sent["sealed_identity"], context=context)
    )
    assert (opened.child.full_name, opened.summary) == ("Giàng Thị Sua", report["summary"])
    bad = police.api.post("/cases", json={**report, "commune_code": "7"}, headers=police.headers())
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.commune_code"
    elsewhere = police.api.post(
        "/cases",
        json={**report, "province_code": "79", "commune_code": "26506"},
        headers=police.headers(),
    )
    assert elsewhere.status_code == 403 and "province_code" in elsewhere.text


def test_a_transferred_referral_shows_the_one_it_replaces(police: Agency):
    referral = police.new_referral()
    created = ReferralStateChanged.example().model_copy(
        update={
            "referral_id": referral.referral_id,
            "case_id": referral.case_id,
            "from_state": None,
            "to_state": ReferralState.REQUESTED,
            "version": 1,
            "deadline": referral.accept_by,
            "linked_referral_id": "5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
        }
    )
    police.deliver(created)
    now = police.api.get(f"/referrals/{referral.referral_id}", headers=police.headers()).json()
    assert (now["state"], now["linked_referral_id"]) == (
        "requested",
        "5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
    )


CHILD = {"child_name": "Sùng Thị Canary Dợ", "address": "Bản Lả, xã Bát Xát"}


def sealed_referral(police: Agency, **update: object) -> ReferralRequested:
    case_id = str(uuid.uuid4())
    details = police.cases.seal(case_id, "police", CHILD)
    return police.new_referral(case_id=case_id, details=details, **update)


def read(police: Agency, referral: ReferralRequested, role: str = "inspector") -> dict:
    answer = police.api.get(f"/referrals/{referral.referral_id}", headers=police.headers(role))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_details_rest_sealed_and_open_only_when_an_acting_officer_reads_one(police: Agency):
    from agencies.adapters.tables import InboxReferral

    referral = sealed_referral(police)
    with Session(police.engine) as session:
        stored = session.get(InboxReferral, referral.referral_id)
    assert stored is not None and "Canary" not in str(stored.details)
    listed = police.api.get("/referrals", headers=police.headers()).json()
    [row] = [r for r in listed if r["id"] == referral.referral_id]
    assert (row["details"], row["details_status"]) == ({}, "sealed")  # a list opens nothing
    assert police.cases.asked == []
    answer = police.api.get(f"/referrals/{referral.referral_id}", headers=police.headers())
    assert (answer.json()["details"], answer.json()["details_status"]) == (CHILD, "opened")
    assert answer.headers["cache-control"] == "no-store"
    assert police.cases.asked == [(referral.case_id, referral.referral_id)]
    [audit] = [a for a in audited(police) if a["resource_id"] == referral.referral_id]
    assert audit["detail"] == "referral shown with details: address, child_name"


@pytest.mark.parametrize(
    ("role", "opens"),
    [
        ("inspector", True),
        ("case_worker", True),
        ("supervisor", True),
        ("intake", False),
        ("admin", False),
        ("viewer", False),
        ("coordinator", False),
        ("referral_router", False),
    ],
)
def test_only_the_roles_that_act_on_referrals_open_details(police: Agency, role: str, opens: bool):
    shown = read(police, sealed_referral(police), role)
    assert shown["details_status"] == ("opened" if opens else "withheld")
    assert ("Canary" in str(shown)) is opens


@pytest.mark.parametrize("ended", [ReferralState.REJECTED, ReferralState.CANCELLED])
def test_an_ended_referral_no_longer_opens_details(police: Agency, ended: ReferralState):
    referral = sealed_referral(police)
    police.deliver(
        ReferralStateChanged.example().model_copy(
            update={
                "referral_id": referral.referral_id,
                "case_id": referral.case_id,
                "to_state": ended,
                "version": 2,
            }
        )
    )
    shown = read(police, referral)
    assert (shown["details"], shown["details_status"]) == ({}, "withheld")
    assert police.cases.asked == []  # not even asked


@pytest.mark.parametrize("status", ["withheld", "erased", "unavailable"])
def test_a_refusal_of_the_cases_service_is_shown_never_a_guess(police: Agency, status: str):
    from agencies.adapters.view_keys import ViewKeyRefused

    police.cases.refusal = ViewKeyRefused(status, "said no")  # type: ignore[arg-type]
    shown = read(police, sealed_referral(police))
    assert (shown["details"], shown["details_status"], shown["details_note"]) == (
        {},
        status,
        "said no",
    )


def test_an_erased_identity_leaves_no_sealed_copy_in_the_inbox(police: Agency):
    from agencies.adapters.tables import InboxReferral
    from contracts.referrals.v1 import ReferralIdentityErased

    referral = sealed_referral(police)
    police.deliver(
        ReferralIdentityErased(
            referral_id=referral.referral_id,
            case_id=referral.case_id,
            agency="police",
            erased_at=datetime.now(UTC),
        )
    )
    with Session(police.engine) as session:
        stored = session.get(InboxReferral, referral.referral_id)
    assert stored is not None and stored.details == {} and stored.identity_erased_at
    shown = read(police, referral)
    assert (shown["details"], shown["details_status"]) == ({}, "erased")
    assert police.cases.asked == []
