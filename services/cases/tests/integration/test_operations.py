"""Missed-clock sweeps, key rotation and agency reports against a real database."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from cases.adapters.tables import CaseRecord
from cases.deadlines import sweep_missed_clocks
from cases.handlers import CaseDeps, record_case, record_reported_case
from cases.rotation import rotate_identity_keys, rows_to_rotate
from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.unit_of_work import unit_of_work
from contracts.agencies.v1 import CaseReported, ReportedChild
from contracts.envelope import encode
from contracts.topics import agency_updates_topic
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex
from services.cases.tests.support import CasesApi, report

MISSED = "vn.lienganh.case.deadline_missed.v1"


def deps(api: CasesApi) -> CaseDeps:
    return api.client.app.state.cases.deps  # type: ignore[attr-defined]


def record_at(api: CasesApi, received_at: datetime, risk: str = "urgent") -> str:
    from cases.api.schemas import CaseReportIn

    body = CaseReportIn.model_validate(report(risk_level=risk))
    command = body.to_command(reported_by="hotline-01", received_at=received_at)
    with unit_of_work(api.engine, source="/tests") as uow:
        return record_case(uow, command, deps(api)).id


def test_each_missed_clock_is_announced_once_even_by_racing_sweeps(cases_api: CasesApi):
    monday = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    case_id = record_at(cases_api, monday)
    assert sweep_missed_clocks(cases_api.engine, monday + timedelta(hours=12)) == 0
    after_twelve_hours = monday + timedelta(hours=12, minutes=1)
    sweeps = [
        threading.Thread(target=sweep_missed_clocks, args=(cases_api.engine, after_twelve_hours))
        for _ in range(3)
    ]
    for sweep in sweeps:
        sweep.start()
    for sweep in sweeps:
        sweep.join()
    assert sweep_missed_clocks(cases_api.engine, after_twelve_hours) == 0
    [emergency] = cases_api.events(MISSED)
    assert (emergency["case_id"], emergency["clock"], emergency["stage"]) == (
        case_id,
        "emergency_intervention",
        "received",
    )
    # Plan clock: 5 working days skipping Vietnam Cultural Day (Tue 24) → Mon 30 Nov 09:00
    # is still in time; Tue 1 Dec 09:00 is the due time.
    assert sweep_missed_clocks(cases_api.engine, datetime(2026, 11, 30, 3, 0, tzinfo=UTC)) == 0
    assert sweep_missed_clocks(cases_api.engine, datetime(2026, 12, 1, 2, 1, tzinfo=UTC)) == 1
    assert sweep_missed_clocks(cases_api.engine, datetime(2026, 12, 2, 2, 1, tzinfo=UTC)) == 0
    plan = cases_api.events(MISSED)[1]
    assert plan["clock"] == "plan_approval"
    assert plan["due_at"].startswith("2026-12-01T02:00")


def test_a_clock_met_in_time_is_never_announced(cases_api: CasesApi):
    received = datetime.now(UTC) - timedelta(hours=1)
    case_id = record_at(cases_api, received)
    moved = cases_api.post(
        f"/cases/{case_id}/stage", cases_api.case_worker(), {"to_stage": "assessed", "version": 1}
    )
    assert moved.status_code == 200
    assert sweep_missed_clocks(cases_api.engine, received + timedelta(hours=13)) == 0
    assert cases_api.events(MISSED) == []


def test_rotation_reseals_every_row_while_old_tokens_stay_readable(cases_api: CasesApi):
    ids = [record_at(cases_api, datetime.now(UTC)) for _ in range(5)]
    keyring = cases_api.settings.keyring_path()
    assert rows_to_rotate(cases_api.engine, "k1") == 0
    batches: list[int] = []
    result = rotate_identity_keys(cases_api.engine, keyring, batch_size=2, on_batch=batches.append)
    assert (result.key_id, result.rows_resealed, batches) == ("k2", 5, [2, 2, 1])
    assert rows_to_rotate(cases_api.engine, "k2") == 0
    with Session(cases_api.engine) as session:
        tokens = [row.child_name_enc for row in session.exec(select(CaseRecord))]
    assert all(token.startswith("k2:") for token in tokens)
    # The running API picks the new key up from the file, without a restart.
    for case_id in ids:
        shown = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
        assert shown["child"]["full_name"] == "Phạm Thị Ngọc Ánh"
    new = cases_api.post("/cases", cases_api.hotline(), report()).json()["case_id"]
    with Session(cases_api.engine) as session:
        assert session.get(CaseRecord, new).child_name_enc.startswith("k2:")  # type: ignore[union-attr]
    again = rotate_identity_keys(cases_api.engine, keyring, new_key=False)
    assert again.rows_resealed == 0


def reported(**overrides) -> CaseReported:
    fields = {
        "case_id": "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
        "agency": "police",
        "channel": Channel.POLICE,
        "case_type": CaseType.CHILD_TRAFFICKING,
        "risk_level": RiskLevel.URGENT,
        "province_code": "01",
        "commune_code": "00070",
        "child": ReportedChild(full_name="Hồ Thị Thu", sex=Sex.FEMALE),
        "summary": "Phát hiện qua tuần tra biên giới.",
        "legal_override_reason": "Bộ luật Tố tụng hình sự: điều tra mua bán người",
        "reported_by": "police-hn-07",
        "reported_at": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        **overrides,
    }
    return CaseReported(**fields)


def test_agency_reports_are_intakes_and_bad_ones_go_to_the_dlq(cases_api: CasesApi):
    def handler(uow, event):  # type: ignore[no-untyped-def]
        return record_reported_case(uow, event, topic_agency="police", deps=deps(cases_api))

    processor = EventProcessor(
        service="cases",
        consumer="cases.test",
        engine=cases_api.engine,
        handlers={CaseReported: handler},
    )
    topic = agency_updates_topic("police")

    def deliver(event: CaseReported, offset: int):  # type: ignore[no-untyped-def]
        record = encode(event, topic=topic, source="/agency/police")
        return processor.process(Delivery(record=record, partition=0, offset=offset))

    good = reported()
    assert deliver(good, 0).outcome is Outcome.PROCESSED
    assert deliver(good, 1).outcome is Outcome.PROCESSED  # resent: same case id, no new case
    with Session(cases_api.engine) as session:
        [case] = session.exec(select(CaseRecord)).all()
    assert (case.id, case.channel, case.consent_basis) == (good.case_id, "police", "legal_override")
    assert len(cases_api.events("vn.lienganh.case.received.v1")) == 1
    refused = {
        "agency": deliver(reported(case_id="c-2", agency="dolisa"), 2),
        "channel": deliver(reported(case_id="c-3", channel=Channel.SCHOOL), 3),
        "commune": deliver(reported(case_id="c-4", commune_code="26506"), 4),
        "summary": deliver(reported(case_id="c-5", summary=None), 5),
    }
    for why, result in refused.items():
        assert result.outcome is Outcome.DEAD_LETTERED, why
        assert result.dead_letter is not None
        headers = dict(result.dead_letter.headers)
        assert headers["dlq-reason"] == b"rejected", why
    commune_error = dict(refused["commune"].dead_letter.headers)["dlq-error"]  # type: ignore[union-attr]
    assert b"commune_code" in commune_error
    assert json.loads(refused["summary"].dead_letter.value)["case_id"] == "c-5"  # type: ignore[union-attr]


def test_referral_events_feed_the_combined_status_and_follow_a_merge(cases_api: CasesApi):
    from cases.handlers import follow_referral
    from contracts.referrals.v1 import ReferralStateChanged

    kept, merged = (record_at(cases_api, datetime.now(UTC)) for _ in range(2))
    with Session(cases_api.engine) as session, session.begin():
        session.get(CaseRecord, merged).merged_into = kept  # type: ignore[union-attr]

    def changed(referral_id: str, case_id: str, state: str, version: int) -> None:
        fields = {"referral_id": referral_id, "case_id": case_id, "to_state": state}
        event = ReferralStateChanged.model_validate(
            ReferralStateChanged.example().model_dump() | fields | {"version": version}
        )
        with unit_of_work(cases_api.engine, source="/tests") as uow:
            follow_referral(uow, event)

    changed("r-police", kept, "accepted", 2)
    changed("r-dolisa", merged, "completed", 5)  # a referral of the merged case
    changed("r-police", kept, "completed", 4)
    changed("r-police", kept, "in-progress", 3)  # late and stale: ignored
    shown = cases_api.get(f"/cases/{kept}", cases_api.case_worker()).json()
    assert {r["referral_id"]: r["state"] for r in shown["referrals"]} == {
        "r-police": "completed",
        "r-dolisa": "completed",
    }
    assert shown["referral_status"] == "completed"


def test_the_rotate_keys_command_reseals_with_a_progress_bar(cases_api: CasesApi, monkeypatch):
    from typer.testing import CliRunner

    from cases.cli import app

    for _ in range(3):
        record_at(cases_api, datetime.now(UTC))
    monkeypatch.setenv("CASES_DATA_DIR", str(cases_api.settings.data_dir))
    monkeypatch.setenv("CASES_DATABASE_URL", str(cases_api.settings.database_url))
    result = CliRunner().invoke(app, ["rotate-keys", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "active key k2: 3 case(s) re-sealed" in result.output
    assert rows_to_rotate(cases_api.engine, "k2") == 0
