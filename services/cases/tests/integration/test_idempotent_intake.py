"""`Idempotency-Key` on `POST /cases` and `POST /cases:batch`: a retry gets the first
answer, never new cases; a key reused for another body is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from cases.adapters.intake_requests import KEPT_FOR, forget_answers
from cases.adapters.tables import CaseRecord, IntakeRequest
from cases.api import batch
from services.cases.tests.support import CasesApi, report

RECEIVED = "vn.lienganh.case.received.v1"
CANARY = "Canary Idempotent Thị Lan"
KEY = "partner-7f3a-0001"


def child(name: str) -> dict[str, Any]:
    return {"full_name": name, "date_of_birth": "2013-04-02", "sex": "female", "address": "Xóm 4"}


def batch_body() -> dict[str, Any]:
    return {
        "reports": [
            report(child=child(CANARY)),
            report(case_type="child_labour", risk_level="medium", child=child("Lò Văn Páo")),
        ]
    }


def send(api: CasesApi, path: str, body: Any, key: str = KEY, token: str | None = None) -> Any:
    return api.post(path, token or api.hotline(), body, **{"Idempotency-Key": key})


def cases_in(api: CasesApi) -> int:
    with Session(api.engine) as session:
        return len(session.exec(select(CaseRecord)).all())


@pytest.mark.parametrize("path", ["/cases", "/cases:batch"])
def test_a_retry_gets_the_first_answer_and_no_new_case(cases_api: CasesApi, path: str):
    body = report(child=child(CANARY)) if path == "/cases" else batch_body()
    first = send(cases_api, path, body)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    retry = send(cases_api, path, body)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    stored = cases_in(cases_api)
    assert stored == (1 if path == "/cases" else 2)
    assert len(cases_api.events(RECEIVED)) == stored


def test_without_a_key_each_post_is_a_new_report(cases_api: CasesApi):
    body = report(child=child(CANARY))
    for _ in range(2):
        assert cases_api.post("/cases", cases_api.hotline(), body).status_code == 201
    assert cases_in(cases_api) == 2


@pytest.mark.parametrize("path", ["/cases", "/cases:batch"])
def test_a_key_sent_again_with_another_body_is_refused(cases_api: CasesApi, path: str):
    body = report(child=child(CANARY)) if path == "/cases" else batch_body()
    assert send(cases_api, path, body).status_code == 201
    other = (
        report(child=child("Hà Văn Tú"))
        if path == "/cases"
        else {"reports": batch_body()["reports"][:1]}
    )
    response = send(cases_api, path, other)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["detail"]] == ["header.Idempotency-Key"]
    assert "different body" in response.text
    assert cases_in(cases_api) == (1 if path == "/cases" else 2)


def test_a_key_is_the_callers_own(cases_api: CasesApi):
    body = report(child=child(CANARY))
    assert send(cases_api, "/cases", body).status_code == 201
    other = cases_api.token("hotline-operator-hn-02", "hotline_111", ["intake"], ["01"])
    response = send(cases_api, "/cases", body, token=other)
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    assert cases_in(cases_api) == 2


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\tkey"])
def test_a_malformed_key_is_422_naming_the_header(cases_api: CasesApi, key: str):
    response = cases_api.client.post(
        "/cases",
        json=report(),
        headers={"Authorization": f"Bearer {cases_api.hotline()}", "Idempotency-Key": key},
    )
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["detail"]] == ["header.Idempotency-Key"]
    assert cases_in(cases_api) == 0


def test_a_retry_racing_its_first_attempt_answers_what_the_first_kept(
    cases_api: CasesApi, monkeypatch
):
    """The first attempt is prepared, then the retry runs whole before it writes: the
    first's write loses on the key, rolls back whole, and answers the retry's cases."""
    prepare = batch._prepare
    retried: list[Any] = []

    def prepare_then_the_retry_arrives(*args, **kwargs):  # type: ignore[no-untyped-def]
        prepared = prepare(*args, **kwargs)
        if not retried:
            retried.append(None)
            retried[0] = send(cases_api, "/cases:batch", batch_body())
        return prepared

    monkeypatch.setattr(batch, "_prepare", prepare_then_the_retry_arrives)
    first = send(cases_api, "/cases:batch", batch_body())
    assert retried[0].status_code == 201, retried[0].text
    assert first.status_code == 201, first.text
    assert first.json() == retried[0].json()
    assert first.headers["Idempotent-Replayed"] == "true"
    assert cases_in(cases_api) == 2
    assert len(cases_api.events(RECEIVED)) == 2


def test_answers_are_forgotten_after_a_day(cases_api: CasesApi):
    body = report(child=child(CANARY))
    first = send(cases_api, "/cases", body).json()
    now = datetime.now(UTC)
    assert forget_answers(cases_api.engine, now) == 0
    assert forget_answers(cases_api.engine, now + KEPT_FOR + timedelta(seconds=1)) == 1
    again = send(cases_api, "/cases", body)
    assert again.status_code == 201 and again.json()["case_id"] != first["case_id"]


def test_what_is_kept_holds_neither_the_identity_nor_the_key(cases_api: CasesApi):
    assert send(cases_api, "/cases:batch", batch_body()).status_code == 201
    with Session(cases_api.engine) as session:
        [kept] = session.exec(select(IntakeRequest)).all()
    stored = " ".join([kept.request_key, kept.fingerprint, kept.answer])
    assert CANARY not in stored and "Canary" not in stored
    assert KEY not in stored and "hotline-operator" not in stored
