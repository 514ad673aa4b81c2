"""Missed-clock sweeps, key rotation and agency reports against a real database."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlmodel import Session, select

from cases.adapters.store import SqlStore
from cases.adapters.tables import SEALED_COLUMNS, CaseDataKey, CaseRecord
from cases.deadlines import sweep_missed_clocks
from cases.handlers import CaseDeps, record_case, record_reported_case
from cases.rotation import rotate_identity_keys, rows_to_rotate
from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.keypairs import load_sealer
from chassis.sealing import PublicSealer
from chassis.unit_of_work import unit_of_work
from contracts.agencies.v1 import CaseReported, ReportedChild, ReportedIdentity
from contracts.envelope import encode
from contracts.topics import agency_updates_topic
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex
from services.cases.tests.support import CasesApi, report
from tests.support.keys import throwaway_dead_letter_keys

MISSED = "vn.lienganh.case.deadline_missed.v1"


def deps(api: CasesApi) -> CaseDeps:
    return api.client.app.state.service_context.deps  # type: ignore[attr-defined]


def record_at(api: CasesApi, received_at: datetime, risk: str = "urgent") -> str:
    from cases.api.schemas import CaseReportIn

    body = CaseReportIn.model_validate(report(risk_level=risk))
    command = body.to_command(reported_by="hotline-01", received_at=received_at)
    with unit_of_work(api.engine, source="/tests") as uow:
        return record_case(SqlStore(uow), command, deps(api)).id


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


def test_rotation_rewraps_every_data_key_while_the_api_keeps_reading(cases_api: CasesApi):
    ids = [record_at(cases_api, datetime.now(UTC)) for _ in range(5)]
    keyring = cases_api.settings.keyring_path()
    assert rows_to_rotate(cases_api.engine, "k1") == 0
    batches: list[int] = []
    result = rotate_identity_keys(cases_api.engine, keyring, batch_size=2, on_batch=batches.append)
    assert (result.key_id, result.keys_rewrapped, batches) == ("k2", 5, [2, 2, 1])
    assert rows_to_rotate(cases_api.engine, "k2") == 0
    with Session(cases_api.engine) as session:
        wrapped = [row.wrapped_key or "" for row in session.exec(select(CaseDataKey))]
        tokens = [row.child_name_enc for row in session.exec(select(CaseRecord))]
    assert len(wrapped) == 5 and all(token.startswith("k2:") for token in wrapped)
    assert all(token.startswith("sv1.") for token in tokens)  # values untouched: cheap
    # The running API picks the new key up from the file, without a restart.
    for case_id in ids:
        shown = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
        assert shown["child"]["full_name"] == "Phạm Thị Ngọc Ánh"
    new = cases_api.post("/cases", cases_api.hotline(), report()).json()["case_id"]
    with Session(cases_api.engine) as session:
        assert session.get(CaseDataKey, new).wrapped_key.startswith("k2:")  # type: ignore[union-attr]
    again = rotate_identity_keys(cases_api.engine, keyring, new_key=False)
    assert again.keys_rewrapped == 0


def test_rotation_moves_a_case_stored_before_per_case_keys_under_its_own(cases_api: CasesApi):
    """A store from before envelope encryption: values sealed straight under the keyring."""
    case_id = record_at(cases_api, datetime.now(UTC))
    keyring = deps(cases_api).cipher
    with Session(cases_api.engine) as session, session.begin():
        session.delete(session.get(CaseDataKey, case_id))
        record = session.get(CaseRecord, case_id)
        assert record is not None
        for column in SEALED_COLUMNS:
            setattr(record, column, None)
        record.child_name_enc = keyring.encrypt("Bùi Thị Cũ", context=f"case:{case_id}:child_name")
    before = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
    assert before["child"]["full_name"] == "Bùi Thị Cũ"  # still readable as it was
    assert rows_to_rotate(cases_api.engine, "k1") == 1
    result = rotate_identity_keys(cases_api.engine, cases_api.settings.keyring_path())
    assert result.cases_moved_to_own_key == 1
    with Session(cases_api.engine) as session:
        moved = session.get(CaseRecord, case_id)
        assert moved is not None and moved.child_name_enc.startswith("sv1.")
        assert session.get(CaseDataKey, case_id) is not None
    after = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
    assert after["child"]["full_name"] == "Bùi Thị Cũ"


def reported(api: CasesApi, *, sealer: PublicSealer | None = None, **overrides) -> CaseReported:
    """An agency's report, its identity sealed to the cases service's intake key."""
    identity = ReportedIdentity(
        child=overrides.pop("child", ReportedChild(full_name="Hồ Thị Thu", sex=Sex.FEMALE)),
        summary=overrides.pop("summary", "Phát hiện qua tuần tra biên giới."),
    )
    case_id = overrides.get("case_id", "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d")
    agency = overrides.get("agency", "police")
    sealer = sealer or load_sealer(api.settings.data_dir / "keys" / "cases-intake.public.json")
    sealed = sealer.seal(
        identity.model_dump_json(), context=ReportedIdentity.context(case_id, agency)
    )
    fields = {
        "sealed_identity": sealed,
        "case_id": "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
        "agency": "police",
        "channel": Channel.POLICE,
        "case_type": CaseType.CHILD_TRAFFICKING,
        "risk_level": RiskLevel.URGENT,
        "province_code": "01",
        "commune_code": "00070",
        "legal_override_reason": "Bộ luật Tố tụng hình sự: điều tra mua bán người",
        "reported_by": "police-hn-07",
        "reported_at": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        **overrides,
    }
    return CaseReported(**fields)


def test_agency_reports_are_intakes_and_bad_ones_go_to_the_dlq(cases_api: CasesApi):
    def handler(uow, event):  # type: ignore[no-untyped-def]
        store = SqlStore(uow)
        return record_reported_case(store, event, topic_agency="police", deps=deps(cases_api))

    processor = EventProcessor(
        service="cases",
        consumer="cases.test",
        engine=cases_api.engine,
        handlers={CaseReported: handler},
        dead_letter_sealer=throwaway_dead_letter_keys().sealer,
    )
    topic = agency_updates_topic("police")

    def deliver(event: CaseReported, offset: int):  # type: ignore[no-untyped-def]
        record = encode(event, topic=topic, source="/agency/police")
        return processor.process(Delivery(record=record, partition=0, offset=offset))

    good = reported(cases_api)
    assert deliver(good, 0).outcome is Outcome.PROCESSED
    assert deliver(good, 1).outcome is Outcome.PROCESSED  # resent: same case id, no new case
    with Session(cases_api.engine) as session:
        [case] = session.exec(select(CaseRecord)).all()
    assert (case.id, case.channel, case.consent_basis) == (good.case_id, "police", "legal_override")
    assert len(cases_api.events("vn.lienganh.case.received.v1")) == 1
    stranger = PublicSealer({"p1": X25519PrivateKey.generate().public_key()}, "p1")
    refused = {
        "agency": deliver(
            reported(cases_api, case_id="00000000-0000-4000-8000-000000000002", agency="dolisa"), 2
        ),
        "channel": deliver(
            reported(
                cases_api, case_id="00000000-0000-4000-8000-000000000003", channel=Channel.SCHOOL
            ),
            3,
        ),
        "commune": deliver(
            reported(
                cases_api, case_id="00000000-0000-4000-8000-000000000004", commune_code="26506"
            ),
            4,
        ),
        "summary": deliver(
            reported(cases_api, case_id="00000000-0000-4000-8000-000000000005", summary=None), 5
        ),
        "foreign key": deliver(
            reported(cases_api, case_id="00000000-0000-4000-8000-000000000006", sealer=stranger), 6
        ),
    }
    for why, result in refused.items():
        assert result.outcome is Outcome.DEAD_LETTERED, why
        assert result.dead_letter is not None
        headers = dict(result.dead_letter.headers)
        assert headers["dlq-reason"] == b"rejected", why
    commune_error = dict(refused["commune"].dead_letter.headers)["dlq-error"]  # type: ignore[union-attr]
    assert b"commune_code" in commune_error
    foreign_error = dict(refused["foreign key"].dead_letter.headers)["dlq-error"]  # type: ignore[union-attr]
    assert foreign_error.startswith(b"sealed_identity: cannot be opened")
    summary = refused["summary"].dead_letter  # type: ignore[union-attr]
    case_5 = "00000000-0000-4000-8000-000000000005"
    assert case_5.encode() not in summary.value  # the dead letter is sealed to the operators' key
    opened = throwaway_dead_letter_keys().open(summary)
    dead = json.loads(opened)
    assert dead["case_id"] == case_5
    assert "sealed_identity" in dead  # the child's name stays sealed inside the dead letter
    assert "Hồ Thị Thu" not in json.dumps(dead, ensure_ascii=False)


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
            follow_referral(SqlStore(uow), event)

    changed("a1b2c3d4-0001-4000-8000-000000000001", kept, "accepted", 2)
    changed(
        "a1b2c3d4-0002-4000-8000-000000000002", merged, "completed", 5
    )  # a referral of the merged case
    changed("a1b2c3d4-0001-4000-8000-000000000001", kept, "completed", 4)
    changed(
        "a1b2c3d4-0001-4000-8000-000000000001", kept, "in-progress", 3
    )  # late and stale: ignored
    shown = cases_api.get(f"/cases/{kept}", cases_api.case_worker()).json()
    assert {r["referral_id"]: r["state"] for r in shown["referrals"]} == {
        "a1b2c3d4-0001-4000-8000-000000000001": "completed",
        "a1b2c3d4-0002-4000-8000-000000000002": "completed",
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
    assert "active key k2: 3 data key(s) re-wrapped" in result.output
    assert rows_to_rotate(cases_api.engine, "k2") == 0
