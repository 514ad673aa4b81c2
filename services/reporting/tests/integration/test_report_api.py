"""The report API: filters, suppression by role, CSV/XLSX exports and their audit events."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from chassis.auth import LocalIssuer
from chassis.outbox import OutboxEvent
from contracts.topics import AUDIT_EVENTS
from contracts.vocabulary import CaseType
from reporting.bootstrap import create_api
from reporting.config import ReportingSettings
from services.reporting.tests.events import case
from services.reporting.tests.store import Store


@pytest.fixture
def client(store: Store, database_url: str, tmp_path: Path) -> TestClient:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    app = create_api(ReportingSettings(data_dir=tmp_path, database_url=database_url))
    app.state.issuer = issuer
    return TestClient(app)


def token(client: TestClient, role: str, provinces: tuple[str, ...] = ("*",)) -> dict:
    minted = client.app.state.issuer.mint(  # type: ignore[attr-defined]
        f"{role}-hn-01", "dolisa", [role], list(provinces)
    )
    return {"Authorization": f"Bearer {minted}"}


# Province by case type, hand-counted: 01 has 3 child labour and 12 trafficking cases,
# 79 has 20 and 9. The 3 is hidden, and so are 12, 20 and 9 to protect it.
COUNTS = {
    ("01", CaseType.CHILD_LABOUR): 3,
    ("01", CaseType.CHILD_TRAFFICKING): 12,
    ("79", CaseType.CHILD_LABOUR): 20,
    ("79", CaseType.CHILD_TRAFFICKING): 9,
}


@pytest.fixture
def cases(store: Store) -> None:
    store.feed(
        case(f"{province}-{kind}-{n}", province_code=province, case_type=kind)
        for (province, kind), count in COUNTS.items()
        for n in range(count)
    )


def test_case_workers_see_exact_counts(client: TestClient, cases: None):
    body = client.get("/reports/cases", headers=token(client, "case_worker")).json()
    assert body["suppressed"] is False
    assert body["row_labels"] == ["01", "79"]
    assert body["column_labels"] == ["child_labour", "child_trafficking"]
    assert body["cells"] == [[3, 12], [20, 9]]
    assert (body["row_totals"], body["column_totals"], body["total"]) == ([15, 29], [23, 21], 44)


def test_other_roles_get_primary_and_secondary_suppression(client: TestClient, cases: None):
    body = client.get("/reports/cases", headers=token(client, "coordinator")).json()
    assert body["suppressed"] is True
    assert body["cells"] == [["<5", "x"], ["x", "x"]]
    assert (body["row_totals"], body["column_totals"], body["total"]) == ([15, 29], [23, 21], 44)


def test_the_summary_hides_the_same_cells(client: TestClient, cases: None):
    body = client.get("/summary", headers=token(client, "coordinator")).json()
    shown = {(c["case_type"], c["province_code"]): c["count"] for c in body["cases"]}
    assert shown == {
        ("child_labour", "01"): "<5",
        ("child_labour", "79"): "x",
        ("child_trafficking", "01"): "x",
        ("child_trafficking", "79"): "x",
    }


def test_threshold_is_configuration(store: Store, cases: None, database_url: str, tmp_path: Path):
    LocalIssuer(tmp_path / "keys").public_key_pem()
    settings = ReportingSettings(
        data_dir=tmp_path, database_url=database_url, suppression_threshold=10
    )
    client = TestClient(create_api(settings))
    client.app.state.issuer = LocalIssuer(tmp_path / "keys")  # type: ignore[attr-defined]
    body = client.get("/reports/cases", headers=token(client, "coordinator")).json()
    assert body["cells"] == [["<10", "x"], ["x", "<10"]]


def test_provincial_users_see_their_province_only(client: TestClient, cases: None):
    headers = token(client, "case_worker", ("79",))
    body = client.get("/reports/cases", headers=headers).json()
    assert body["row_labels"] == ["79"]
    refused = client.get("/reports/cases", headers=headers, params={"province": "01"})
    assert refused.status_code == 403
    assert "province" in refused.json()["detail"]


def test_bad_filters_name_the_field(client: TestClient):
    headers = token(client, "coordinator")
    response = client.get("/reports/cases", headers=headers, params={"rows": "name"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"].endswith("rows")
    response = client.get("/reports/cases", headers=headers, params={"columns": "province"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "query.columns"
    response = client.get(
        "/reports/cases", headers=headers, params={"from": "2026-12-01", "to": "2026-11-01"}
    )
    assert response.json()["detail"][0]["field"] == "query.from"
    assert client.get("/reports/cases").status_code == 401


def test_csv_and_xlsx_exports_open_and_are_audited(client: TestClient, cases: None, store: Store):
    headers = token(client, "coordinator")
    params = {"rows": "province", "columns": "case_type", "format": "csv"}
    exported = client.get("/reports/cases", headers=headers, params=params)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows == [
        ["province \\ case_type", "child_labour", "child_trafficking", "total"],
        ["01", "<5", "x", "15"],
        ["79", "x", "x", "29"],
        ["total", "23", "21", "44"],
    ]
    params["format"] = "xlsx"
    workbook = load_workbook(
        io.BytesIO(client.get("/reports/cases", headers=headers, params=params).content)
    )
    sheet = workbook.active
    assert [list(r) for r in sheet.iter_rows(min_row=1, max_row=4, values_only=True)] == [
        ["province \\ case_type", "child_labour", "child_trafficking", "total"],
        ["01", "<5", "x", 15],
        ["79", "x", "x", 29],
        ["total", 23, 21, 44],
    ]
    with Session(store.engine) as session:
        audits = session.exec(select(OutboxEvent).where(OutboxEvent.topic == AUDIT_EVENTS)).all()
    assert len(audits) == 2
    payload = json.loads(audits[0].value)
    assert (payload["action"], payload["resource_type"], payload["actor"]) == (
        "export",
        "report",
        "coordinator-hn-01",
    )
    assert payload["resource_id"] == "cases-province-by-case_type"


def test_json_reads_are_not_exports(client: TestClient, cases: None, store: Store):
    client.get("/reports/cases", headers=token(client, "coordinator"))
    with Session(store.engine) as session:
        assert session.exec(select(OutboxEvent)).all() == []


def test_indicators_hide_small_counts_and_their_percentages(client: TestClient, store: Store):
    store.feed([case("one")])
    body = client.get("/reports/indicators", headers=token(client, "coordinator")).json()
    assert body["cases"] == "<5"
    assert body["hotline_funnel"]["reports"] == "<5"
    exact = client.get("/reports/indicators", headers=token(client, "case_worker")).json()
    assert exact["cases"] == 1 and exact["hotline_funnel"] == {
        "reports": 1,
        "referred": 0,
        "completed": 0,
    }
