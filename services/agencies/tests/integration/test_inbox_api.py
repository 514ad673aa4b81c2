"""The agency inbox API: filters, pagination, every action, versions, outcomes, and access."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session

from contracts.referrals.v1 import ReferralStateChanged
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
        ("dolisa-case_worker-01", "read", "inbox"),
        ("dolisa-case_worker-01", "read", referral.referral_id),
        ("dolisa-case_worker-01", "update", referral.referral_id),
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
    bad = police.api.post("/cases", json={**report, "commune_code": "7"}, headers=police.headers())
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.commune_code"


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


def test_details_are_stored_sealed_and_shown_opened_to_the_agency(police: Agency):
    from agencies.adapters.tables import InboxReferral
    from chassis.sealed_details import details_cipher, seal_details

    keys = police.issuer.key_dir  # the deployment's keys folder (data_dir/keys)
    case_id = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a99"
    plain = {"child_name": "Sùng Thị Dợ", "address": "Bản Lả, xã Bát Xát"}
    sealed = seal_details(
        details_cipher(keys, "police"), case_id=case_id, agency="police", details=plain
    )
    referral = police.new_referral(case_id=case_id, details=sealed)
    with Session(police.engine) as session:
        stored = session.get(InboxReferral, referral.referral_id)
    assert stored is not None and "Sùng" not in str(stored.details)
    shown = police.api.get(f"/referrals/{referral.referral_id}", headers=police.headers()).json()
    assert shown["details"] == plain
    # Sealed for another agency: not readable here.
    foreign = seal_details(
        details_cipher(keys, "dolisa"), case_id=case_id, agency="police", details=plain
    )
    other = police.new_referral(case_id=case_id, details=foreign)
    unreadable = police.api.get(f"/referrals/{other.referral_id}", headers=police.headers()).json()
    assert "Sùng Thị Dợ" not in str(unreadable["details"])
