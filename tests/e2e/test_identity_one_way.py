"""Identity flows one way, sealed, to those who need it — and can be erased. On the real
broker, every service a separate process: canaries through every intake path, the role
matrix for identity, erasure end to end, and dead letters an operator can work with."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from kafka import KafkaConsumer, KafkaProducer
from typer.testing import CliRunner

from chassis.sealing import PublicSealer
from contracts.access.policy import access_policy
from contracts.agencies.v1 import ReportedChild, ReportedWorkplace
from contracts.envelope import encode
from contracts.topics import CASES_EVENTS, agency_updates_topic, declared_topics, dlq_topic
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex
from tests.e2e.test_walking_skeleton import read_topic, report
from tests.support.reports import agency_report
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

ROLES = (
    "intake",
    "admin",
    "viewer",
    "coordinator",
    "referral_router",
    "inspector",
    "case_worker",
    "supervisor",
)
AGENCIES = ("police", "dolisa", "education", "labour_inspection")


def hotline(system: RunningSystem) -> str:
    return system.token("hotline-operator-hn-09", "hotline_111", ["intake"], ["01"])


def officer(system: RunningSystem, agency: str, role: str = "inspector", province: str = "01"):  # type: ignore[no-untyped-def]
    return system.token(f"{agency}-{role}-{province}", agency, [role], [province])


def referral_of(system: RunningSystem, agency: str, case_id: str) -> dict:
    def found() -> dict:
        inbox = system.get(f"agency-{agency}", "/referrals", officer(system, agency), limit=500)
        return dict(next(r for r in inbox.json() if r["case_id"] == case_id))

    return eventually(found)


def read_referral(system: RunningSystem, agency: str, referral_id: str, token: str) -> dict:
    answer = system.get(f"agency-{agency}", f"/referrals/{referral_id}", token)
    return {"status": answer.status_code, **(answer.json() if answer.status_code == 200 else {})}


def opened(system: RunningSystem, agency: str, referral_id: str, token: str) -> dict:
    """The referral read by an officer once the cases service knows of it (it learns of new
    referrals from the referrals topic, a moment after the agency's inbox does)."""

    def read() -> dict:
        shown = read_referral(system, agency, referral_id, token)
        assert shown.get("details_status") == "opened", shown
        return shown

    return eventually(read)


def new_case(system: RunningSystem, name: str, **overrides: object) -> str:
    body = report(
        child={
            "full_name": name,
            "date_of_birth": "2012-02-02",
            "sex": "female",
            "address": f"số 7 ngõ {name}",
            "guardian_name": f"Mẹ của {name}",
        },
        summary=f"{name} was seen at the border",
        **overrides,
    )
    created = system.post("cases", "/cases", hotline(system), body)
    assert created.status_code == 201, created.text
    return str(created.json()["case_id"])


def everything_readable(
    system: RunningSystem, planted: frozenset[tuple[str, bytes]] = frozenset()
) -> list[tuple[str, bytes]]:
    """Every record of every topic (dead letters included), read by a plain Kafka client,
    and every file of the data folder but the key files. `planted`: (topic, key) of the
    records a test itself sent in clear as a misbehaving producer would."""
    found: list[tuple[str, bytes]] = []
    consumer = KafkaConsumer(
        *[topic.name for topic in declared_topics()],
        bootstrap_servers=system.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=4000,
    )
    try:
        for record in consumer:
            if (record.topic, record.key) in planted:
                continue
            blob = (record.value or b"") + b"".join(v for _, v in record.headers)
            found.append((f"topic {record.topic}", blob))
    finally:
        consumer.close()
    for path in system.data_dir.rglob("*"):
        if path.is_file() and "keys" not in path.parts and path.suffix != ".jar":
            found.append((str(path.relative_to(system.data_dir)), path.read_bytes()))
    for name in system.ports.api:
        metrics = system.get(name, "/metrics", None).content
        found.append((f"{name} /metrics", metrics))
    return found


def leaks_of(
    system: RunningSystem, *needles: str, planted: frozenset[tuple[str, bytes]] = frozenset()
) -> list[str]:
    """Where any needle is readable, in UTF-8 or as a JSON escape."""
    encoded = {n.encode() for n in needles} | {json.dumps(n)[1:-1].encode() for n in needles}
    readable = everything_readable(system, planted)
    return sorted({where for where, blob in readable for n in encoded if n in blob})


def publish(system: RunningSystem, topic: str, value: bytes, key: bytes, headers: list) -> None:
    producer = KafkaProducer(bootstrap_servers=system.bootstrap, acks="all")
    producer.send(topic, value=value, key=key, headers=headers)
    producer.flush()
    producer.close()


def dead_letter(system: RunningSystem, topic: str, key: str) -> dict[str, str]:
    def found() -> dict[str, str]:
        for record in read_topic(system.bootstrap, dlq_topic(topic)):
            if record.key == key.encode():
                return {name: value.decode() for name, value in record.headers}
        raise AssertionError("not dead-lettered yet")

    return eventually(found)


def test_canaries_travel_sealed_on_every_intake_path_and_rest_nowhere_in_clear(
    system: RunningSystem,
):
    canaries = {
        "hotline": "Canary Hoàng Thị Chim Sẻ",
        "agency api": "Canary Lò Văn Sáo Sậu",
        "agency kafka": "Canary Đinh Thị Họa Mi",
        "plaintext producer": "Canary Vi Văn Chích Chòe",
        "malformed": "Canary Mùa Thị Vành Khuyên",
    }
    police = officer(system, "police")
    # 1. The hotline, through the cases API.
    from_hotline = new_case(system, canaries["hotline"])
    # 2. An agency officer, through the agency's API (sealed there, before its outbox).
    reported = system.post(
        "agency-police",
        "/cases",
        police,
        {
            "channel": "police",
            "case_type": "forced_labour",
            "risk_level": "high",
            "province_code": "01",
            "commune_code": "00070",
            "child": {"full_name": canaries["agency api"], "sex": "male"},
            "legal_override_reason": "Bộ luật Tố tụng hình sự: bảo vệ bị hại",
            "summary": f"{canaries['agency api']} làm việc tại lò gạch",
        },
    )
    assert reported.status_code == 202, reported.text
    # 3. An agency's own Kafka client, sealing to the intake public key it was given.
    from_kafka = str(uuid.uuid4())
    topic = agency_updates_topic("labour_inspection")
    event = agency_report(
        system.data_dir / "keys",
        case_id=from_kafka,
        agency="labour_inspection",
        channel=Channel.LABOUR_INSPECTION,
        case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
        risk_level=RiskLevel.HIGH,
        child=ReportedChild(full_name=canaries["agency kafka"], sex=Sex.FEMALE),
        workplace=ReportedWorkplace(name="Xưởng Canary Vàng Anh", industry="garment"),
        employer_identified=True,
        guardian_consented=True,
        child_consented=True,
    )
    record = encode(event, topic=topic, source="/agencies/labour_inspection")
    publish(system, topic, record.value, record.key or b"", list(record.headers))
    # 4. A misbehaving producer still sending the old, unsealed shape: refused, parked sealed.
    careless = str(uuid.uuid4())
    plain = json.loads(record.value) | {
        "case_id": careless,
        "child": {"full_name": canaries["plaintext producer"], "sex": "male"},
    }
    del plain["sealed_identity"]
    publish(system, topic, json.dumps(plain).encode(), careless.encode(), list(record.headers))
    # 5. Not even JSON, with a name in it, on the cases topic.
    garbage = str(uuid.uuid4())
    publish(
        system,
        CASES_EVENTS,
        f"{{{canaries['malformed']}".encode(),
        garbage.encode(),
        list(record.headers),
    )

    # Everything arrived where it should: referrals open for police, cases recorded ...
    police_referral = referral_of(system, "police", from_hotline)
    shown = opened(system, "police", police_referral["id"], police)
    assert shown["details"]["child_name"] == canaries["hotline"]
    dolisa_worker = officer(system, "dolisa", "case_worker")

    def child_of(case_id: str) -> str:
        shown = system.get("cases", f"/cases/{case_id}", dolisa_worker)
        assert shown.status_code == 200, shown.text
        return str(shown.json()["child"]["full_name"])

    assert eventually(lambda: child_of(reported.json()["case_id"])) == canaries["agency api"]
    assert eventually(lambda: child_of(from_kafka)) == canaries["agency kafka"]
    # ... and the bad ones parked with their reason.
    assert dead_letter(system, topic, careless)["dlq-reason"] == "contract_violation"
    assert dead_letter(system, CASES_EVENTS, garbage)["dlq-reason"] == "malformed"

    needles = [*canaries.values(), "Chim Sẻ", "Sáo Sậu", "Họa Mi", "Chích Chòe", "Vàng Anh"]
    # Only the two records the careless producers wrote themselves hold a name in clear.
    planted = frozenset({(topic, careless.encode()), (CASES_EVENTS, garbage.encode())})
    assert leaks_of(system, *needles, planted=planted) == []


def test_identity_opens_only_for_acting_officers_of_an_agency_holding_the_referral(
    system: RunningSystem,
):
    name = "Canary Tráng Thị Ma Trận"
    case_id = new_case(system, name)
    holders = {
        agency: referral_of(system, agency, case_id)["id"] for agency in ("police", "dolisa")
    }
    acting = set(access_policy().role_set("acting"))
    wrongly: list[str] = []
    for agency in AGENCIES:
        for role in ROLES:
            for province in ("01", "79"):
                token = officer(system, agency, role, province)
                expected = agency in holders and role in acting and province == "01"
                referral_id = holders.get(agency, holders["police"])
                shown = read_referral(system, agency, referral_id, token)
                opened = name in json.dumps(shown, ensure_ascii=False)
                key = system.post(
                    "cases", f"/cases/{case_id}/view-key", token, {"referral_id": referral_id}
                )
                case = system.get("cases", f"/cases/{case_id}", token)
                owner = agency == "dolisa" and role == "case_worker" and province == "01"
                if opened != expected or (key.status_code == 200) != expected:
                    wrongly.append(
                        f"{agency}/{role}/{province}: {shown['status']} {key.status_code}"
                    )
                if (name in case.text) != owner:
                    wrongly.append(f"{agency}/{role}/{province}: case record {case.status_code}")
    assert wrongly == []


def test_referrals_keep_flowing_while_the_cases_api_is_down(system: RunningSystem):
    police = officer(system, "police")
    system.supervisor.stop(["cases-api"])
    try:
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
                "child": {"full_name": "Canary Lầu Thị Mất Điện", "sex": "female"},
                "legal_override_reason": "Bộ luật Tố tụng hình sự: bảo vệ bị hại",
                "summary": "Phát hiện khi tuần tra",
            },
        )
        assert reported.status_code == 202, reported.text
        referral = referral_of(system, "police", reported.json()["case_id"])
        shown = read_referral(system, "police", referral["id"], police)
        assert (shown["details"], shown["details_status"]) == ({}, "unavailable")
    finally:
        system.supervisor.start(["cases-api"])
        system.supervisor.wait_ready(names=["cases-api"])
    shown = opened(system, "police", referral["id"], police)
    assert shown["details"]["child_name"] == "Canary Lầu Thị Mất Điện"


def test_erasure_shreds_every_copy_and_leaves_the_counts(
    system: RunningSystem, monkeypatch: pytest.MonkeyPatch
):
    from cases.cli import app as cases_cli

    name = "Canary Phàn Thị Xóa Bỏ"
    case_id = new_case(system, name)
    police = officer(system, "police")
    referrals = {agency: referral_of(system, agency, case_id) for agency in ("police", "dolisa")}
    opened(system, "police", referrals["police"]["id"], police)
    facts_before = reporting_facts(system.data_dir, case_id)
    assert facts_before["cases"]

    monkeypatch.setenv("CASES_DATA_DIR", str(system.data_dir))
    result = CliRunner().invoke(
        cases_cli, ["erase-identity", case_id, "--operator", "dpo-operator-01", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert f"erased: case {case_id}" in result.output

    for agency, referral in referrals.items():
        token = officer(system, agency, "case_worker" if agency == "dolisa" else "inspector")

        def dropped(agency: str = agency, rid: str = referral["id"], token: str = token) -> None:
            shown = read_referral(system, agency, rid, token)
            assert (shown["details"], shown["details_status"]) == ({}, "erased")

        eventually(dropped)
    key = system.post(
        "cases", f"/cases/{case_id}/view-key", police, {"referral_id": referrals["police"]["id"]}
    )
    assert key.status_code == 410
    shown = system.get("cases", f"/cases/{case_id}", officer(system, "dolisa", "case_worker"))
    assert shown.json()["child"] is None and shown.json()["identity_erased_at"]
    with sqlite3.connect(system.data_dir / "cases.db") as db:
        [(wrapped,)] = db.execute(
            "select wrapped_key from case_data_keys where case_id = ?", (case_id,)
        ).fetchall()
    assert wrapped is None  # the only key that opened any copy is gone
    with sqlite3.connect(system.data_dir / "referrals.db") as db:
        assert db.execute(
            "select count(*) from case_identity_views where case_id = ?", (case_id,)
        ).fetchone() == (0,)
    audits = [
        json.loads(r.value)
        for r in read_topic(system.bootstrap, "audit.events.v1")
        if r.key == b"dpo-operator-01"
    ]
    assert any(a["action"] == "erase" and a["resource_id"] == case_id for a in audits)
    assert reporting_facts(system.data_dir, case_id) == facts_before
    assert leaks_of(system, name, "Xóa Bỏ") == []


def reporting_facts(data_dir: Path, case_id: str) -> dict[str, list]:
    with sqlite3.connect(data_dir / "reporting.db") as db:
        return {
            "cases": db.execute(
                "select * from case_facts where case_id = ?", (case_id,)
            ).fetchall(),
            "referrals": db.execute(
                "select * from referral_facts where case_id = ? order by 1", (case_id,)
            ).fetchall(),
        }


def test_dead_letters_are_listed_shown_redacted_and_replayed_after_a_fix(
    system: RunningSystem,
):
    """An agency seals reports to an intake key the cases service does not hold yet (keys
    rotated on the agency's side first): parked, then replayed once the key is installed."""
    from localrun.cli import app as lienganh

    name = "Canary Sùng Thị Thư Chết"
    stray = X25519PrivateKey.generate()
    sealer = PublicSealer({"p77": stray.public_key()}, "p77")
    case_id = str(uuid.uuid4())
    topic = agency_updates_topic("police")
    event = agency_report(
        system.data_dir / "keys",
        case_id=case_id,
        agency="police",
        channel=Channel.POLICE,
        case_type=CaseType.CHILD_TRAFFICKING,
        risk_level=RiskLevel.URGENT,
        child=ReportedChild(full_name=name, sex=Sex.FEMALE),
        summary="Phát hiện tại bến xe",
        sealer=sealer,
        legal_override_reason="Bộ luật Tố tụng hình sự: bảo vệ bị hại",
    )
    record = encode(event, topic=topic, source="/agencies/police")
    publish(system, topic, record.value, record.key or b"", list(record.headers))
    headers = dead_letter(system, topic, case_id)
    assert headers["dlq-reason"] == "rejected" and "sealed_identity" in headers["dlq-error"]

    cli = CliRunner()
    base = ["--bootstrap", system.bootstrap]
    listed = cli.invoke(
        lienganh, ["dlq", "list", *base, "--topic", topic, "--reason", "rejected", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    # (Other tests of this process configured JSON logs on stdout too: keep our rows.)
    rows = [json.loads(line) for line in listed.output.splitlines() if line.startswith('{"ref"')]
    [ref] = [row["ref"] for row in rows if row["key"] == case_id]
    assert name not in listed.output
    data = ["--data-dir", str(system.data_dir)]
    shown = cli.invoke(lienganh, ["dlq", "show", ref, *base, *data])
    assert shown.exit_code == 0, shown.output
    assert case_id in shown.output and "«sealed»" in shown.output and name not in shown.output

    # The fix: the cases service gets the key the agency sealed to.
    intake = system.data_dir / "keys" / "cases-intake.private.json"
    keys = json.loads(intake.read_text())
    raw = stray.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    keys["keys"]["p77"] = base64.b64encode(raw).decode()
    intake.write_text(json.dumps(keys))
    replayed = cli.invoke(
        lienganh, ["dlq", "replay", ref, "--operator", "ops-oncall-01", *base, *data]
    )
    assert replayed.exit_code == 0, replayed.output
    dolisa = officer(system, "dolisa", "case_worker")
    case = eventually(lambda: system.get("cases", f"/cases/{case_id}", dolisa).json()["child"])
    assert case["full_name"] == name
    audits = [
        json.loads(r.value)
        for r in read_topic(system.bootstrap, "audit.events.v1")
        if r.key == b"ops-oncall-01"
    ]
    assert [(a["action"], a["resource_id"]) for a in audits] == [("replay", ref)]
