"""Report dates are days and instants as the OpenAPI document declares them, in a plausible
range: a number read as Unix time, or a year 9999, is a 422 naming the parameter."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chassis.auth import LocalIssuer
from reporting.bootstrap import create_api
from reporting.config import ReportingSettings


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> TestClient:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()  # where the app reads it
    app = create_api(ReportingSettings(data_dir=tmp_path, database_url=database_url))
    return TestClient(app, headers=_bearer(issuer))


def _bearer(issuer: LocalIssuer) -> dict[str, str]:
    token = issuer.mint("statistician-01", "dolisa", ["statistician"], ["*"])
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/summary", {"to": "0"}, "query.to"),
        ("/reports/cases", {"from": "1700000000"}, "query.from"),
        ("/reports/referrals", {"to": "2026-1-1"}, "query.to"),
        ("/reports/indicators", {"as_of": "0"}, "query.as_of"),
        ("/reports/indicators", {"as_of": "9999-12-31T23:59:59+00:00"}, "query.as_of"),
        ("/reports/indicators", {"as_of": "1999-12-31T23:59:59+00:00"}, "query.as_of"),
        ("/reports/indicators", {"as_of": "2030-01-01T00:00:00"}, "query.as_of"),
    ],
)
def test_an_implausible_date_is_422_naming_it(
    client: TestClient, path: str, params: dict, field: str
):
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["detail"]] == [field]


def test_days_and_instants_in_range_are_taken(client: TestClient):
    assert client.get("/summary", params={"from": "2026-01-01", "to": "2026-12-31"}).is_success
    judged = client.get("/reports/indicators", params={"as_of": "2030-01-01T00:00:00Z"})
    assert judged.status_code == 200, judged.text
    assert judged.json()["as_of"].startswith("2030-01-01T00:00:00")
