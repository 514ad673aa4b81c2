"""A report names a child by a real name and a plausible date of birth; anything else is a
422 naming the field, and nothing is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.cases.tests.support import CasesApi, report


def child(**overrides: object) -> dict:
    return {"full_name": "Lò Văn Páo", "sex": "male", "date_of_birth": "2012-03-04", **overrides}


def _today() -> datetime:
    return datetime.now(UTC) + timedelta(hours=7)  # Viet Nam's day


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (child(full_name="   "), "body.child.full_name"),
        (child(full_name="\t\n"), "body.child.full_name"),
        (child(full_name="12345 -"), "body.child.full_name"),
        (child(full_name="A" * 201), "body.child.full_name"),
        (child(guardian_name="  "), "body.child.guardian_name"),
        (child(date_of_birth="1800-01-01"), "body.child.date_of_birth"),
        (child(date_of_birth="0"), "body.child.date_of_birth"),
        (child(date_of_birth=0), "body.child.date_of_birth"),
        (
            child(date_of_birth=(_today() + timedelta(days=2)).date().isoformat()),
            "body.child.date_of_birth",
        ),
    ],
)
def test_an_implausible_child_is_422_naming_the_field(cases_api: CasesApi, given: dict, field: str):
    response = cases_api.post("/cases", cases_api.hotline(), report(child=given))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["detail"]] == [field]
    assert cases_api.events("vn.lienganh.case.received.v1") == []


def test_a_name_is_stored_without_surrounding_spaces(cases_api: CasesApi):
    given = child(full_name="  Lò Văn Páo \n", guardian_name=" Lò Thị Mai ")
    created = cases_api.post("/cases", cases_api.hotline(), report(child=given))
    assert created.status_code == 201, created.text
    shown = cases_api.get(f"/cases/{created.json()['case_id']}", cases_api.case_worker()).json()
    assert (shown["child"]["full_name"], shown["child"]["guardian_name"]) == (
        "Lò Văn Páo",
        "Lò Thị Mai",
    )


def test_a_child_born_today_or_almost_twenty_five_years_ago_is_accepted(cases_api: CasesApi):
    today = _today().date()
    for born in (today, today - timedelta(days=365 * 25)):  # a few leap days inside
        given = child(date_of_birth=born.isoformat())
        created = cases_api.post("/cases", cases_api.hotline(), report(child=given))
        assert created.status_code == 201, created.text
