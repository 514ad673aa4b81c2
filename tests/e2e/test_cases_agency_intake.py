"""An agency's own case report, published on its updates topic, becomes a case like any
intake — on the real broker, through the running cases worker — and a bad one is parked in
the DLQ with the reason."""

from __future__ import annotations

import uuid

import pytest

from contracts.agencies.v1 import CaseReported, ReportedChild, ReportedWorkplace
from contracts.topics import agency_updates_topic, dlq_topic
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex
from tests.e2e.test_walking_skeleton import read_topic
from tests.support.reports import agency_report, publish
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

TOPIC = agency_updates_topic("labour_inspection")


def inspection_report(system: RunningSystem, case_id: str, **overrides: object) -> CaseReported:
    facts: dict[str, object] = {
        "agency": "labour_inspection",
        "channel": Channel.LABOUR_INSPECTION,
        "employer_identified": True,
        "guardian_consented": True,
        "child_consented": True,
        "reported_by": "labour-inspector-hn-02",
        **overrides,
    }
    return agency_report(
        system.data_dir / "keys",
        case_id=case_id,
        case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
        risk_level=RiskLevel.HIGH,
        child=ReportedChild(full_name="Đào Văn Khoa", date_of_birth="2011-06-01", sex=Sex.MALE),
        workplace=ReportedWorkplace(
            name="Lò gạch Thành Hưng", address="Xóm Bãi, xã Hoàn Kiếm", industry="brick_kiln"
        ),
        **facts,  # type: ignore[arg-type]
    )


def test_an_inspection_report_on_the_agency_topic_becomes_a_case(system: RunningSystem):
    good, misrouted = str(uuid.uuid4()), str(uuid.uuid4())
    publish(
        system.bootstrap,
        TOPIC,
        inspection_report(system, misrouted, agency="police", channel=Channel.POLICE),
        inspection_report(system, good),
        inspection_report(system, good),  # resent: still one case
    )
    dolisa = system.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])

    def recorded() -> dict:
        response = system.get("cases", f"/cases/{good}", dolisa)
        assert response.status_code == 200, response.text
        return response.json()

    case = eventually(recorded)
    assert (case["channel"], case["case_type"], case["status"]) == (
        "labour_inspection",
        "hazardous_child_labour",
        "received",
    )
    assert case["child"]["full_name"] == "Đào Văn Khoa"
    listed = system.get("cases", "/cases", dolisa, channel="labour_inspection", limit=200).json()
    assert [row["id"] for row in listed].count(good) == 1
    assert system.get("cases", f"/cases/{misrouted}", dolisa).status_code == 404

    def dead_lettered() -> dict:
        for record in read_topic(system.bootstrap, dlq_topic(TOPIC)):
            headers = {name: value.decode() for name, value in record.headers}
            if record.key == misrouted.encode() and headers["dlq-consumer"].startswith("cases."):
                return headers
        raise AssertionError("not dead-lettered yet")

    headers = eventually(dead_lettered)
    assert headers["dlq-reason"] == "rejected"
    assert "police" in headers["dlq-error"]

    # The case went on like an API intake: labour inspection got its referral.
    inspector = system.token("labour-inspector-hn-01", "labour_inspection", ["inspector"], ["01"])
    eventually(
        lambda: next(
            r
            for r in system.get("agency-labour_inspection", "/referrals", inspector).json()
            if r["case_id"] == good
        )
    )
