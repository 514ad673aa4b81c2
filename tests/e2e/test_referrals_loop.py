"""The closed loop across agencies, each agency a separate process on the real broker."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer

from contracts.agencies.registry import agency_registry
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def labour_case(**overrides: object) -> dict:
    body = {
        "channel": "hotline_111",
        "case_type": "hazardous_child_labour",
        "risk_level": "high",
        "province_code": "01",
        "commune_code": "00070",
        "child": {"full_name": "Vàng Văn Chứ", "date_of_birth": "2011-08-19", "sex": "male"},
        "circumstances": {"employer_identified": True, "signs_of_forced_labour": True},
        "consent": {"child_consented": True, "guardian_consented": True},
        "summary": "Làm việc ở lò gạch, bị giữ giấy tờ.",
    }
    body.update(overrides)
    return body


def report(system: RunningSystem, body: dict) -> str:
    intake = system.token("hotline-operator-hn-02", "hotline_111", ["intake"], ["01"])
    created = system.post("cases", "/cases", intake, body)
    assert created.status_code == 201, created.text
    return str(created.json()["case_id"])


def officer(system: RunningSystem, agency: str) -> str:
    return system.token(f"{agency}-officer-hn-01", agency, ["inspector", "case_worker"], ["01"])


def inbox_item(system: RunningSystem, agency: str, case_id: str) -> dict:
    # The whole inbox: other tests share this system, and the first page (50) fills up.
    inbox = system.get(f"agency-{agency}", "/referrals", officer(system, agency), limit=500)
    return next(item for item in inbox.json() if item["case_id"] == case_id)


def opened_details(system: RunningSystem, agency: str, case_id: str) -> dict:
    """The referral read on its own: details opened once the cases service knows of it."""
    referral_id = inbox_item(system, agency, case_id)["id"]

    def read() -> dict:
        answer = system.get(
            f"agency-{agency}", f"/referrals/{referral_id}", officer(system, agency)
        )
        assert answer.json()["details_status"] in ("opened", "none"), answer.text
        return dict(answer.json()["details"])

    return eventually(read)


def read_topic(bootstrap: str, topic: str) -> list[dict]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def test_four_agencies_each_see_only_their_own_referrals(system: RunningSystem):
    case_id = report(system, labour_case())
    expected = {"labour_inspection": True, "dolisa": False, "police": False}
    for agency, lead in expected.items():
        assert eventually(lambda a=agency: inbox_item(system, a, case_id))["lead"] is lead
    # Need-to-know details, opened for the agency's own acting officers only.
    assert opened_details(system, "dolisa", case_id)["child_name"] == "Vàng Văn Chứ"
    assert "child_name" not in opened_details(system, "labour_inspection", case_id)
    education = system.get(
        "agency-education", "/referrals", officer(system, "education"), limit=500
    ).json()
    assert case_id not in {item["case_id"] for item in education}
    at_risk = report(system, labour_case(case_type="at_risk", circumstances={}))
    eventually(lambda: inbox_item(system, "education", at_risk))
    for agency in agency_registry().codes():

        def carried(topic: str = agency_referrals_topic(agency)) -> list[dict]:
            events = read_topic(system.bootstrap, topic)
            assert events  # each agency got a referral from one of the two cases
            return events

        on_topic = eventually(carried)
        assert {event["agency"] for event in on_topic} == {agency}
        mine = {e["referral_id"] for e in on_topic if e.get("case_id") == case_id}
        assert bool(mine) is (agency in expected)
    # An agency's token cannot act on another agency's referral, at either door.
    police_item = inbox_item(system, "police", case_id)
    for service in ("agency-labour_inspection", "agency-police"):
        stranger = "dolisa" if service == "agency-police" else "police"
        answer = system.post(
            service,
            f"/referrals/{police_item['id']}/accept",
            officer(system, stranger),
            {"version": 1},
        )
        assert answer.status_code == 403


def test_a_full_loop_across_two_agencies_with_a_transfer(system: RunningSystem):
    case_id = report(system, labour_case())
    coordinator = system.token("dolisa-coordinator-hn-02", "dolisa", ["coordinator"], ["01"])
    inspection = eventually(lambda: inbox_item(system, "labour_inspection", case_id))
    inspector = officer(system, "labour_inspection")
    path = f"/referrals/{inspection['id']}"
    steps = [
        ("acknowledge", {"version": 1}),
        ("accept", {"version": 2}),
        ("start", {"version": 3}),
        (
            "complete",
            {
                "version": 4,
                "outcome": {
                    "inspection_done": True,
                    "violation_found": True,
                    "sanction": "Phạt 75 triệu đồng",
                },
            },
        ),
    ]
    for action, body in steps:
        # Each step waits for the referrals service to confirm the one before.
        eventually(lambda b=body: _at_version(system, "labour_inspection", case_id, b["version"]))
        answer = system.post("agency-labour_inspection", f"{path}/{action}", inspector, body)
        assert answer.status_code == 200, (action, answer.text)
    stale = system.post("agency-labour_inspection", f"{path}/start", inspector, {"version": 3})
    assert stale.status_code == 409

    police = eventually(lambda: inbox_item(system, "police", case_id))
    moved = system.post(
        "agency-police",
        f"/referrals/{police['id']}/transfer",
        officer(system, "police"),
        {"version": 1, "to_agency": "education", "reason": "Không có dấu hiệu tội phạm"},
    )
    assert moved.status_code == 200, moved.text
    education = eventually(lambda: inbox_item(system, "education", case_id))
    assert education["linked_referral_id"] == police["id"]

    def history() -> list[dict]:
        rows = system.get("referrals", f"/cases/{case_id}/referrals", coordinator).json()
        assert any(r["to_state"] == "completed" for r in rows)
        assert any(r["transferred_to"] == "education" for r in rows)
        return rows

    rows = eventually(history)
    completed = next(r for r in rows if r["to_state"] == "completed")
    assert completed["agency"] == "labour_inspection"
    assert completed["outcome"]["sanction"] == "Phạt 75 triệu đồng"
    rejected = next(r for r in rows if r["transferred_to"] == "education")
    assert (rejected["agency"], rejected["linked_referral_id"]) == ("police", education["id"])
    told = [
        e
        for e in read_topic(system.bootstrap, REFERRALS_EVENTS)
        if e.get("case_id") == case_id and e.get("to_state") in {"completed", "rejected"}
    ]
    assert {e["owner_agency"] for e in told} == {"dolisa"}


def _at_version(system: RunningSystem, agency: str, case_id: str, version: int) -> dict:
    item = inbox_item(system, agency, case_id)
    assert item["version"] == version
    return item


def test_a_deadline_stored_before_a_worker_restart_fires_after_it(system: RunningSystem):
    case_id = report(system, labour_case(case_type="at_risk", circumstances={}))
    dolisa = eventually(lambda: inbox_item(system, "dolisa", case_id))
    system.supervisor.stop(["referrals-worker"])
    # While the worker is down, the deadline passes (moved into the past in its durable store).
    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(system.data_dir / "referrals.db") as db:
        changed = db.execute(
            "UPDATE referrals SET due_at = ?, next_escalation_at = ? WHERE id = ?",
            (past, past, dolisa["id"]),
        ).rowcount
    assert changed == 1
    system.supervisor.start(["referrals-worker"])
    system.supervisor.wait_ready(names=["referrals-worker"])

    def escalated() -> list[dict]:
        found = [
            e
            for e in read_topic(system.bootstrap, REFERRALS_EVENTS)
            if e.get("referral_id") == dolisa["id"] and "reminder" in e
        ]
        assert found
        return found

    [escalation] = eventually(escalated)
    assert (escalation["reminder"], escalation["state"]) == (0, "requested")
    coordinator = system.token(
        f"coordinator-{uuid.uuid4().hex[:6]}", "dolisa", ["coordinator"], ["01"]
    )
    overdue = system.get("referrals", "/referrals", coordinator, overdue="true").json()
    assert dolisa["id"] in {r["id"] for r in overdue}


def test_a_case_an_agency_reports_becomes_a_case_and_is_referred(system: RunningSystem):
    police = officer(system, "police")
    reported = system.post(
        "agency-police",
        "/cases",
        police,
        {
            "channel": "police",
            "case_type": "child_trafficking",
            "risk_level": "urgent",
            "province_code": "01",
            "commune_code": "00070",
            "child": {"full_name": "Thào Thị Mỷ", "sex": "female", "date_of_birth": "2012-01-15"},
            "signs_of_forced_labour": True,
            "legal_override_reason": "Bộ luật Tố tụng hình sự: bảo vệ bị hại",
            "summary": "Phát hiện tại bến xe, đi cùng người lạ không rõ quan hệ.",
        },
    )
    assert reported.status_code == 202, reported.text
    case_id = reported.json()["case_id"]
    dolisa = system.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])

    def recorded() -> dict:
        answer = system.get("cases", f"/cases/{case_id}", dolisa)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    assert eventually(recorded)["channel"] == "police"
    referral = eventually(lambda: inbox_item(system, "police", case_id))
    assert referral["lead"] is True
    assert opened_details(system, "police", case_id)["child_name"] == "Thào Thị Mỷ"
