"""A planted canary identity never leaves the cases service in readable form."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer

from contracts.topics import declared_topics
from tests.e2e.test_walking_skeleton import report
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

CANARY = "Canary Hoàng Thị Chim Sẻ"
CANARY_ADDRESS = "số 7 ngõ Canary"


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

    needles = [text.encode() for text in (CANARY, CANARY_ADDRESS, "Chim Sẻ")]
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
