"""Helpers for the cases tests: the API under test, a ready-made report, and what the
handlers need without any I/O (their dependencies, commands, agency reports)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cases.config import CasesSettings
from cases.domain.commands import RecordCase
from cases.handlers.deps import CaseDeps
from chassis.auth import LocalIssuer
from chassis.crypto import FieldCipher
from chassis.outbox import OutboxEvent
from chassis.sealing import PrivateOpener, PublicSealer
from contracts.agencies.v1 import CaseReported, ReportedChild, ReportedIdentity
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex

HANOI_COMMUNE = "00070"


@dataclass
class CasesApi:
    client: TestClient
    issuer: LocalIssuer
    engine: Engine
    settings: CasesSettings

    def token(self, subject: str, agency: str, roles: list[str], provinces: list[str]) -> str:
        return self.issuer.mint(subject, agency, roles, provinces)

    def post(self, path: str, token: str, body: Any, **headers: str) -> Any:
        headers["Authorization"] = f"Bearer {token}"
        return self.client.post(path, json=body, headers=headers)

    def get(self, path: str, token: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def events(self, event_type: str) -> list[dict]:
        """Payloads staged in the outbox, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(OutboxEvent)
                .where(OutboxEvent.event_type == event_type)
                .order_by(col(OutboxEvent.id))
            ).all()
        return [json.loads(row.value) for row in rows]

    # Ready-made principals.
    def hotline(self) -> str:
        return self.token("hotline-operator-hn-01", "hotline_111", ["intake"], ["01"])

    def case_worker(self) -> str:
        return self.token("dolisa-caseworker-hn-01", "dolisa", ["case_worker"], ["01"])

    def coordinator(self) -> str:
        return self.token("dolisa-coordinator-hn-01", "dolisa", ["coordinator"], ["01"])


def report(**overrides: Any) -> dict:
    body: dict[str, Any] = {
        "channel": "hotline_111",
        "case_type": "child_trafficking",
        "risk_level": "urgent",
        "province_code": "01",
        "commune_code": HANOI_COMMUNE,
        "child": {
            "full_name": "Phạm Thị Ngọc Ánh",
            "date_of_birth": "2013-04-02",
            "sex": "female",
            "address": "số 12 ngõ Hàng Bông",
            "guardian_name": "Phạm Văn Toản",
            "guardian_phone": "0912345678",
        },
        "circumstances": {"signs_of_forced_labour": True},
        "consent": {"child_consented": True, "guardian_consented": True},
        "summary": "Người gọi cho biết em làm việc ban đêm ở quán karaoke.",
    }
    body.update(overrides)
    return body


# --- handlers without I/O ---------------------------------------------------------------

MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
INTAKE_KEY_ID = "i1"
_INTAKE_KEY = X25519PrivateKey.generate()


def handler_deps() -> CaseDeps:
    """What the handlers stand on, with a fresh keyring and this module's intake key pair."""
    opener = PrivateOpener({INTAKE_KEY_ID: _INTAKE_KEY})
    return CaseDeps(
        cipher=FieldCipher({"k1": os.urandom(32)}, "k1"),
        owner_agency="dolisa",
        dedup_secret=b"d" * 32,
        intake_opener=lambda: opener,
    )


def record_command(*, received_at: datetime = MONDAY, **overrides: Any) -> RecordCase:
    """`report(**overrides)` as the API turns it into an intake command."""
    from cases.api.schemas import CaseReportIn

    body = CaseReportIn.model_validate(report(**overrides))
    return body.to_command(reported_by="hotline-01", received_at=received_at)


def child(**overrides: Any) -> dict[str, Any]:
    """The ready-made report's child, with some fields changed."""
    return {**report()["child"], **overrides}


def agency_report(
    case_id: str = "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", **overrides: Any
) -> CaseReported:
    """A police report of a case, its identity sealed to `handler_deps()`'s intake key."""
    agency = overrides.get("agency", "police")
    sealer = PublicSealer({INTAKE_KEY_ID: _INTAKE_KEY.public_key()}, INTAKE_KEY_ID)
    identity = ReportedIdentity(
        child=ReportedChild(full_name="Hồ Thị Thu", sex=Sex.FEMALE),
        summary="Phát hiện qua tuần tra biên giới.",
    )
    fields: dict[str, Any] = {
        "case_id": case_id,
        "agency": agency,
        "channel": Channel.POLICE,
        "case_type": CaseType.CHILD_TRAFFICKING,
        "risk_level": RiskLevel.URGENT,
        "province_code": "01",
        "commune_code": HANOI_COMMUNE,
        "legal_override_reason": "Bộ luật Tố tụng hình sự: điều tra mua bán người",
        "reported_by": "police-hn-07",
        "reported_at": MONDAY,
        "sealed_identity": sealer.seal(
            identity.model_dump_json(), context=ReportedIdentity.context(case_id, agency)
        ),
        **overrides,
    }
    return CaseReported(**fields)
