"""`POST /cases:batch`: every report recorded as `POST /cases` records one, or none."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from cases import handlers
from cases.adapters.tables import (
    SEALED_COLUMNS,
    CaseDataKey,
    CaseRecord,
    ConsentChange,
    DuplicateLink,
)
from cases.api import batch
from cases.api.batch import MAX_REPORTS
from chassis.outbox import Lane
from services.cases.tests.integration.test_outbox_lanes import lanes
from services.cases.tests.support import CasesApi, report

RECEIVED = "vn.lienganh.case.received.v1"
AUDITED = "vn.lienganh.audit.recorded.v1"


def child(name: str, born: str = "2013-04-02") -> dict[str, Any]:
    return {"full_name": name, "date_of_birth": born, "sex": "female", "address": "Thôn Đông"}


def reports() -> list[dict[str, Any]]:
    return [
        report(child=child("Nguyễn Thị Hoa")),  # urgent trafficking, the example
        report(case_type="child_labour", risk_level="medium", child=child("Lê Thị Mai")),
        report(channel="police", child=child("nguyễn  thị hoa")),  # the first child again
    ]


def post_batch(api: CasesApi, body: Any, token: str | None = None) -> Any:
    return api.post("/cases:batch", token or api.hotline(), body)


def cases_in(api: CasesApi) -> int:
    with Session(api.engine) as session:
        return len(session.exec(select(CaseRecord)).all())


def test_a_batch_records_each_report_in_order_with_its_event_audit_and_links(
    cases_api: CasesApi,
):
    response = post_batch(cases_api, {"reports": reports()})
    assert response.status_code == 201, response.text
    ids = [case["case_id"] for case in response.json()["cases"]]
    assert len(set(ids)) == 3 and {c["status"] for c in response.json()["cases"]} == {"received"}
    assert [event["case_id"] for event in cases_api.events(RECEIVED)] == ids
    audits = cases_api.events(AUDITED)
    assert [(a["action"], a["resource_id"], a["outcome"]) for a in audits] == [
        ("create", case_id, "allowed") for case_id in ids
    ]
    assert {a["actor"] for a in audits} == {"hotline-operator-hn-01"}
    # Live intake: the urgent reports take the urgent lane, the other the normal one.
    assert lanes(cases_api) == {
        ids[0].encode(): [Lane.URGENT],
        ids[1].encode(): [Lane.NORMAL],
        ids[2].encode(): [Lane.URGENT],
    }
    with Session(cases_api.engine) as session:
        links = [
            (link.case_id, link.other_case_id, link.match)
            for link in session.exec(select(DuplicateLink))
        ]
    assert links == [(ids[2], ids[0], "exact")]
    shown = cases_api.get(f"/cases/{ids[1]}", cases_api.case_worker()).json()
    assert shown["child"]["full_name"] == "Lê Thị Mai"  # sealed and opened like any case


def test_a_report_that_fails_a_check_refuses_the_batch_naming_it_by_index(
    cases_api: CasesApi,
):
    bad_sex = [*reports()[:1], report(child={**child("Đỗ Văn An"), "sex": "boy"})]
    response = post_batch(cases_api, {"reports": bad_sex})
    assert response.status_code == 422, response.text
    assert "body.reports.1.child.sex" in [error["field"] for error in response.json()["detail"]]
    no_summary = [*reports()[:2], report(summary=None)]
    response = post_batch(cases_api, {"reports": no_summary})
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["detail"]] == ["body.reports.2.summary"]
    assert cases_in(cases_api) == 0
    assert cases_api.events(RECEIVED) == []


@pytest.mark.parametrize("count", [0, MAX_REPORTS + 1])
def test_an_empty_or_oversized_batch_is_422(cases_api: CasesApi, count: int):
    response = post_batch(cases_api, {"reports": [report()] * count})
    assert response.status_code == 422, response.text
    assert "body.reports" in [error["field"] for error in response.json()["detail"]]


def test_a_report_outside_the_callers_provinces_refuses_the_batch(cases_api: CasesApi):
    saigon = report(province_code="79", commune_code="26506", child=child("Trần Thị Bé"))
    response = post_batch(cases_api, {"reports": [*reports()[:1], saigon]})
    assert response.status_code == 403, response.text
    assert "reports.1.province_code" in response.text
    assert cases_in(cases_api) == 0
    [denied] = cases_api.events(AUDITED)
    assert (denied["action"], denied["outcome"]) == ("create", "denied")


def test_a_viewer_may_not_post_a_batch(cases_api: CasesApi):
    viewer = cases_api.token("dolisa-viewer", "dolisa", ["viewer"], ["01"])
    assert post_batch(cases_api, {"reports": reports()}, viewer).status_code == 403


def test_a_case_of_the_same_child_stored_while_the_batch_is_prepared_is_linked(
    cases_api: CasesApi, monkeypatch
):
    prepare = batch._prepare
    other: list[str] = []

    def prepare_then_a_report_arrives(*args, **kwargs):  # type: ignore[no-untyped-def]
        prepared = prepare(*args, **kwargs)
        if not other:
            other.append("")  # first: `POST /cases` is prepared here too
            response = cases_api.post(
                "/cases", cases_api.hotline(), report(child=child("Lê Thị Mai"))
            )
            assert response.status_code == 201, response.text
            other[0] = response.json()["case_id"]
        return prepared

    monkeypatch.setattr(batch, "_prepare", prepare_then_a_report_arrives)
    response = post_batch(cases_api, {"reports": reports()})
    assert response.status_code == 201, response.text
    ids = [case["case_id"] for case in response.json()["cases"]]
    with Session(cases_api.engine) as session:
        links = {(link.case_id, link.other_case_id) for link in session.exec(select(DuplicateLink))}
    assert links == {(ids[2], ids[0]), (ids[1], other[0])}
    assert cases_in(cases_api) == 4
    assert len(cases_api.events(RECEIVED)) == 4  # nothing of the first, unwritten attempt


def test_a_batch_is_sealed_and_encoded_outside_any_transaction(cases_api: CasesApi, monkeypatch):
    """Its candidates read, the batch keeps no read snapshot (under SQLite, one kept while
    batches were prepared back to back kept the WAL from being checkpointed to its start)."""
    record_case = handlers.record_case
    in_transaction: list[bool] = []

    def noting_transaction(store, command, deps, **options):  # type: ignore[no-untyped-def]
        in_transaction.append(store.session.in_transaction())
        return record_case(store, command, deps, **options)

    stored = cases_api.post("/cases", cases_api.hotline(), report(child=child("Lê Thị Mai")))
    assert stored.status_code == 201, stored.text
    monkeypatch.setattr(handlers, "record_case", noting_transaction)
    response = post_batch(cases_api, {"reports": reports()})
    assert response.status_code == 201, response.text
    assert in_transaction == [False] * 3
    with Session(cases_api.engine) as session:
        links = {(link.case_id, link.other_case_id) for link in session.exec(select(DuplicateLink))}
    ids = [case["case_id"] for case in response.json()["cases"]]
    # The stored case was read before the transaction ended, and linked after.
    assert links == {(ids[2], ids[0]), (ids[1], stored.json()["case_id"])}


def test_a_batch_stores_each_case_as_post_cases_stores_it(cases_api: CasesApi):
    # The batch path makes its rows as plain values (`BatchStore.row`): the same columns,
    # defaults included, must reach the database as through the ORM.
    single = cases_api.post("/cases", cases_api.hotline(), report(child=child("Trần Thị Lan")))
    batched = post_batch(cases_api, {"reports": [report(child=child("Đỗ Thị Cúc"))]})
    assert single.status_code == batched.status_code == 201, (single.text, batched.text)
    ids = (single.json()["case_id"], batched.json()["cases"][0]["case_id"])

    with Session(cases_api.engine) as session:
        cases = [session.get(CaseRecord, case_id) for case_id in ids]
        keys = [session.get(CaseDataKey, case_id) for case_id in ids]
        consents = [
            session.exec(select(ConsentChange).where(ConsentChange.case_id == case_id)).one()
            for case_id in ids
        ]
    rows = [case.model_dump() for case in cases if case is not None]
    per_case = {"id", "received_at", "emergency_due_at", "plan_due_at", *SEALED_COLUMNS}
    per_case |= {"dedup_key", "dedup_key_folded"}
    assert {name for name in rows[0] if rows[0][name] != rows[1][name]} <= per_case
    assert [name for name in rows[0] if rows[0][name] is None] == [
        name for name in rows[1] if rows[1][name] is None
    ]
    assert all(key is not None and key.wrapped_key for key in keys)
    first, second = (c.model_dump(exclude={"id", "case_id", "occurred_at"}) for c in consents)
    assert first == second
