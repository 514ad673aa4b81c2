"""Which outbox lane a case's events take: a live urgent report the urgent lane, every other
live report the normal lane, an imported list the bulk lane whatever its rows' risk."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, col, select

from chassis.outbox import Lane, OutboxEvent
from services.cases.tests.integration.test_bulk_import import GOOD, run, write_csv
from services.cases.tests.support import CasesApi, report

RECEIVED = "vn.lienganh.case.received.v1"


def lanes(api: CasesApi) -> dict[bytes | None, list[Lane]]:
    """Lanes of each key's case-received events."""
    with Session(api.engine) as session:
        rows = session.exec(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == RECEIVED)
            .order_by(col(OutboxEvent.id))
        ).all()
    found: dict[bytes | None, list[Lane]] = {}
    for row in rows:
        found.setdefault(row.key, []).append(Lane(row.lane))
    return found


def post(api: CasesApi, **overrides: str) -> bytes:
    response = api.post("/cases", api.hotline(), report(**overrides))
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"]).encode()


def test_a_live_urgent_report_takes_the_urgent_lane_and_others_the_normal_lane(
    cases_api: CasesApi,
):
    urgent = post(cases_api)  # the example report: trafficking, urgent
    medium = post(cases_api, case_type="child_labour", risk_level="medium")
    assert lanes(cases_api) == {urgent: [Lane.URGENT], medium: [Lane.NORMAL]}


def test_an_imported_list_takes_the_bulk_lane_even_for_its_urgent_rows(
    cases_api: CasesApi, tmp_path: Path
):
    rows = [GOOD, {**GOOD, "profile_id": "HN-2026-0099", "risk_level": "urgent"}]
    assert run(cases_api, write_csv(tmp_path / "list.csv", rows)).imported == 2
    assert sorted(lane for found in lanes(cases_api).values() for lane in found) == [
        Lane.BULK,
        Lane.BULK,
    ]
