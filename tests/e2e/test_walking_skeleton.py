"""One hotline case flows through every service, each a separate process on a real broker."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from kafka import KafkaConsumer

from contracts.topics import NOTIFICATIONS_EVENTS, agency_referrals_topic
from tests.support.system import RunningSystem, eventually, metric_value

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

CANARY_NAME = "Canary Thị Vịt Bầu"


def report(**overrides: object) -> dict:
    body = {
        "channel": "hotline_111",
        "case_type": "child_trafficking",
        "risk_level": "urgent",
        "province_code": "01",
        "commune_code": "00070",
        "child": {"full_name": CANARY_NAME, "date_of_birth": "2013-04-02", "sex": "female"},
        "circumstances": {"signs_of_forced_labour": True},
        "consent": {"child_consented": True, "guardian_consented": True},
        "summary": f"Caller says {CANARY_NAME} works nights at a karaoke bar.",
    }
    body.update(overrides)
    return body


def test_hotline_case_reaches_police_and_dolisa_and_closes_the_loop(system: RunningSystem):
    hotline = system.token("hotline-operator-hn-01", "hotline_111", ["intake"], ["01"])
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    dolisa = system.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])
    coordinator = system.token("coordinator-hn-01", "dolisa", ["coordinator"], ["01"])

    correlation_id = f"walk-{uuid.uuid4()}"
    created = httpx.post(
        system.url("cases", "/cases"),
        json=report(),
        headers={"Authorization": f"Bearer {hotline}", "X-Correlation-ID": correlation_id},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    def referral_in(service: str, token: str) -> dict:
        inbox = system.get(service, "/referrals", token).json()
        return next(item for item in inbox if item["case_id"] == case_id)

    police_referral = eventually(lambda: referral_in("agency-police", police))
    assert police_referral["lead"] is True
    assert (police_referral["state"], police_referral["version"]) == ("requested", 1)
    dolisa_referral = eventually(lambda: referral_in("agency-dolisa", dolisa))
    assert dolisa_referral["lead"] is False
    assert CANARY_NAME not in json.dumps(police_referral) + json.dumps(dolisa_referral)

    # DOLISA's inbox and topic never carry the police referral.
    dolisa_ids = {r["id"] for r in system.get("agency-dolisa", "/referrals", dolisa).json()}
    assert police_referral["id"] not in dolisa_ids
    agencies_on_dolisa_topic = {
        json.loads(record.value)["agency"]
        for record in read_topic(system.bootstrap, agency_referrals_topic("dolisa"))
    }
    assert agencies_on_dolisa_topic == {"dolisa"}

    accepted = system.post(
        "agency-police", f"/referrals/{police_referral['id']}/accept", police, {"version": 1}
    )
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["state"], accepted.json()["version"]) == ("accepted", 2)

    def history() -> list[dict]:
        rows = system.get("referrals", f"/cases/{case_id}/referrals", coordinator).json()
        assert any(row["to_state"] == "accepted" for row in rows)
        return rows

    transitions = eventually(history)
    assert {(row["from_state"], row["to_state"]) for row in transitions} >= {
        (None, "requested"),
        ("requested", "accepted"),
    }

    def inspector_told() -> dict:
        mine = system.get("notifications", "/notifications/me", police).json()
        return next(n for n in mine if n["referral_id"] == police_referral["id"])

    assert eventually(inspector_told)["title"].startswith("Yêu cầu chuyển tuyến mới")
    eventually(
        lambda: next(
            n
            for n in system.get("notifications", "/notifications/me", coordinator).json()
            if n["referral_id"] == police_referral["id"]
        )
    )

    statistician = system.token("statistician-01", "molisa", ["statistician"], ["*"])

    def counted() -> dict:
        # A statistician sees exact counts; every other role gets small cells suppressed.
        summary = system.get("reporting", "/summary", statistician).json()
        referrals = {(r["agency"], r["state"]): r["count"] for r in summary["referrals"]}
        assert referrals.get(("police", "accepted"), 0) >= 1
        return summary

    summary = eventually(counted)
    cases = {(c["case_type"], c["province_code"]): c["count"] for c in summary["cases"]}
    assert cases[("child_trafficking", "01")] >= 1
    # The intake request's correlation id reached the inspector's notification, through
    # cases → referrals → notifications (the acceptance carries the accept request's id).
    delivered = [
        record
        for record in read_topic(system.bootstrap, NOTIFICATIONS_EVENTS)
        if json.loads(record.value)["case_id"] == case_id
        and json.loads(record.value)["recipient_id"] == "police-inspector-hn-01"
    ]
    assert delivered
    assert {dict(r.headers)["ce_correlationid"].decode() for r in delivered} == {correlation_id}
    worker_logs = (system.data_dir / "logs" / "notifications-worker.log").read_text()
    assert correlation_id in worker_logs

    metrics = system.get("reporting", "/metrics", None).text
    accepted = metric_value(metrics, "lienganh_report_referrals", agency="police", state="accepted")
    assert accepted is None or accepted >= 5  # an unauthenticated scrape shows no small cell
    assert CANARY_NAME not in metrics


def read_topic(bootstrap: str, topic: str) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()
