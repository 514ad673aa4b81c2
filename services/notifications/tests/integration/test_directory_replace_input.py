"""Replacing an officer applies the same rules as creating one: what breaks them is a 422
naming the field (it was a 500 when the whole officer was re-validated unguarded)."""

from __future__ import annotations

import pytest

from .test_directory_api import OFFICER, Api, api  # noqa: F401 - the fixture

REPLACEMENT = {k: v for k, v in OFFICER.items() if k != "id"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("dolisa-caseworker-hn-01", REPLACEMENT | {"provinces": [""]}, "body"),
        ("dolisa-caseworker-hn-01", REPLACEMENT | {"agency": "Đ"}, "body.agency"),
        ("dolisa-caseworker-hn-01", REPLACEMENT | {"name": ""}, "body.name"),
        (
            "dolisa-caseworker-hn-01",
            REPLACEMENT | {"channels": [{"kind": "in_app"}, {"kind": "in_app"}]},
            "body",
        ),
        ("Not An Id", REPLACEMENT, "path.officer_id"),
    ],
)
def test_a_replacement_that_breaks_the_rules_is_422_naming_the_field(
    api: Api,  # noqa: F811 - the fixture
    path: str,
    body: dict,
    field: str,
):
    answer = api.client.put(f"/directory/officers/{path}", json=body, headers=api.admin)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["detail"]] == [field]
