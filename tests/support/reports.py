"""Agency case reports as an agency's own Kafka client would send them: identity sealed to
the cases service's intake public key (which the agency is given, never the private half)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer

from chassis.keypairs import load_sealer
from chassis.sealing import PublicSealer
from contracts.agencies.v1 import CaseReported, ReportedChild, ReportedIdentity, ReportedWorkplace
from contracts.envelope import encode
from contracts.vocabulary import CaseType, Channel, RiskLevel


def sealed_identity(
    keys_dir: Path,
    *,
    case_id: str,
    agency: str,
    child: ReportedChild,
    workplace: ReportedWorkplace | None = None,
    summary: str | None = None,
    sealer: PublicSealer | None = None,
) -> str:
    identity = ReportedIdentity(child=child, workplace=workplace, summary=summary)
    sealer = sealer or load_sealer(keys_dir / "cases-intake.public.json")
    return sealer.seal(
        identity.model_dump_json(), context=ReportedIdentity.context(case_id, agency)
    )


def agency_report(
    keys_dir: Path,
    *,
    case_id: str,
    agency: str,
    channel: Channel,
    case_type: CaseType,
    risk_level: RiskLevel,
    child: ReportedChild,
    workplace: ReportedWorkplace | None = None,
    summary: str | None = None,
    sealer: PublicSealer | None = None,
    **facts: object,
) -> CaseReported:
    """A case report in Hà Nội (unless `facts` say otherwise), identity sealed."""
    sealed = sealed_identity(
        keys_dir,
        case_id=case_id,
        agency=agency,
        child=child,
        workplace=workplace,
        summary=summary,
        sealer=sealer,
    )
    fields: dict[str, object] = {
        "province_code": "01",
        "commune_code": "00070",
        "reported_by": f"{agency}-officer-hn-01",
        "reported_at": datetime.now(UTC),
        **facts,
    }
    return CaseReported(
        case_id=case_id,
        agency=agency,
        channel=channel,
        case_type=case_type,
        risk_level=risk_level,
        sealed_identity=sealed,
        **fields,  # type: ignore[arg-type]
    )


def publish(bootstrap: str, topic: str, *events: CaseReported) -> None:
    """As the agency's own Kafka client would: CloudEvents in binary mode, acks=all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for event in events:
        record = encode(event, topic=topic, source=f"/agencies/{event.agency}")
        producer.send(topic, value=record.value, key=record.key, headers=list(record.headers))
    producer.flush()
    producer.close()
