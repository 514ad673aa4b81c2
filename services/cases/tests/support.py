"""Helpers for the cases tests: the API under test and a ready-made report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cases.config import CasesSettings
from chassis.auth import LocalIssuer
from chassis.outbox import OutboxEvent

HANOI_COMMUNE = "00070"


@dataclass
class CasesApi:
    client: TestClient
    issuer: LocalIssuer
    engine: Engine
    settings: CasesSettings

    def token(self, subject: str, agency: str, roles: list[str], provinces: list[str]) -> str:
        return self.issuer.mint(subject, agency, roles, provinces)

    def post(self, path: str, token: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

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
