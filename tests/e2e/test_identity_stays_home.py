"""A planted canary identity never leaves the cases service in readable form."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer

from contracts.topics import CASES_EVENTS, declared_topics
from tests.e2e.test_walking_skeleton import read_topic, report
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

CANARY = "Canary Hoàng Thị Chim Sẻ"
CANARY_ADDRESS = "số 7 ngõ Canary"
CANARY_PLAIN = "Canary Hoang Thi Chim Se"  # the same child, typed without diacritics
CANARY_EMPLOYER = "Xưởng Canary Vàng Anh"


def test_canary_identity_is_nowhere_but_encrypted_in_the_cases_store(system: RunningSystem):
    hotline = system.token("hotline-operator-hn-03", "hotline_111", ["intake"], ["01"])
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    body = report(
        child={
            "full_name": CANARY,
            "date_of_birth": "2012-02-02",
            "sex": "male",
            "address": CANARY_ADDRESS,
            "guardian_name": f"Mẹ của {CANARY}",
        },
        summary=f"{CANARY} was seen at {CANARY_ADDRESS}",
    )
    case_id = system.post("cases", "/cases", hotline, body).json()["case_id"]
    eventually(
        lambda: next(
            r
            for r in system.get("agency-police", "/referrals", police).json()
            if r["case_id"] == case_id
        )
    )
    dolisa_worker = system.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])
    shown = system.get("cases", f"/cases/{case_id}", dolisa_worker).json()
    assert shown["child"]["full_name"] == CANARY  # the owning agency can still read it

    _exercise_every_case_path(system, case_id, dolisa_worker)

    needles = [
        text.encode()
        for text in (CANARY, CANARY_ADDRESS, "Chim Sẻ", "Chim Se", CANARY_EMPLOYER, "Vàng Anh")
    ]
    leaks = []
    for path in system.data_dir.rglob("*"):
        if path.is_file() and path.suffix in {".log", ".db", ".db-wal", ""}:
            content = path.read_bytes()
            leaks += [f"{path.name}: {n.decode()}" for n in needles if n in content]
    for name in ("cases", "referrals", "notifications", "reporting", "agency-police"):
        metrics = system.get(name, "/metrics", None).content
        leaks += [f"{name} /metrics" for n in needles if n in metrics]
    consumer = KafkaConsumer(
        *[topic.name for topic in declared_topics()],
        bootstrap_servers=system.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        for record in consumer:
            blob = (record.value or b"") + b"".join(v for _, v in record.headers)
            leaks += [f"topic {record.topic}" for n in needles if n in blob]
    finally:
        consumer.close()
    assert leaks == []


def _exercise_every_case_path(system: RunningSystem, case_id: str, case_worker: str) -> None:
    """Consent, process steps, a re-report without diacritics, its merge, lists and the
    referral details: none may carry the canary anywhere but the cases store, encrypted."""
    override = {"legal_override_reason": "Điều tra theo Bộ luật Tố tụng hình sự"}
    consent = system.post("cases", f"/cases/{case_id}/consent", case_worker, override)
    assert consent.status_code == 200, consent.text
    step = {"to_stage": "assessed", "version": consent.json()["version"]}
    assert system.post("cases", f"/cases/{case_id}/stage", case_worker, step).status_code == 200
    ngo = system.token("ngo-worker-hn-01", "ngo", ["intake"], ["01"])
    again = report(
        channel="ngo",
        child={"full_name": CANARY_PLAIN, "date_of_birth": "2012-02-02", "sex": "male"},
        workplace={"name": CANARY_EMPLOYER, "address": CANARY_ADDRESS},
        summary=f"{CANARY_PLAIN} làm việc tại {CANARY_EMPLOYER}",
    )
    duplicate = system.post("cases", "/cases", ngo, again)
    assert duplicate.status_code == 201, duplicate.text
    coordinator = system.token("coordinator-hn-01", "dolisa", ["coordinator"], ["01"])
    links = system.get("cases", "/duplicates", coordinator, limit=200).json()
    [link] = [item for item in links if item["other_case_id"] == case_id]
    merged = system.post("cases", f"/duplicates/{link['id']}/confirm", coordinator, None)
    assert merged.status_code == 200, merged.text
    assert system.get("cases", "/cases", case_worker).status_code == 200
    router = system.token("referrals-service", "referrals", ["referral_router"], ["*"])
    details = system.get("cases", f"/cases/{case_id}/referral-details", router, agency="dolisa")
    assert details.json()["details"]["child_name"] == CANARY  # need to know, over HTTP only

    def merge_announced() -> None:
        for record in read_topic(system.bootstrap, CASES_EVENTS):
            if b"merged" in dict(record.headers)["ce_type"] and record.key == case_id.encode():
                return
        raise AssertionError("merge not relayed yet")

    eventually(merge_announced)
