"""The report API: filters, suppression by role (exact counts for statisticians only),
CSV/XLSX exports and their audit events."""

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
from contracts.topics import AUDIT_EVENTS, DEFAULT_AGENCIES
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


def token(
    client: TestClient,
    role: str | list[str],
    provinces: tuple[str, ...] = ("*",),
    agency: str = "dolisa",
) -> dict:
    roles = [role] if isinstance(role, str) else role
    minted = client.app.state.issuer.mint(  # type: ignore[attr-defined]
        f"{agency}-{'-'.join(roles)}-01", agency, roles, list(provinces)
    )
    return {"Authorization": f"Bearer {minted}"}


AGENCIES = [*DEFAULT_AGENCIES, "hotline_111"]
# Every role of the access policy but `statistician`, and names that only look like it.
OTHER_ROLES = ["case_worker", "coordinator", "intake", "inspector", "supervisor", "admin",
               "viewer", "referral_router", "Statistician", "statisticians"]  # fmt: skip


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


def test_statisticians_see_exact_counts(client: TestClient, cases: None):
    body = client.get("/reports/cases", headers=token(client, "statistician")).json()
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


def test_every_role_but_statistician_of_every_agency_is_suppressed(client: TestClient, cases: None):
    for agency in AGENCIES:
        exact = client.get("/reports/cases", headers=token(client, "statistician", agency=agency))
        assert exact.json()["cells"] == [[3, 12], [20, 9]], agency
        for role in OTHER_ROLES:
            headers = token(client, role, agency=agency)
            body = client.get("/reports/cases", headers=headers).json()
            assert (body["suppressed"], body["cells"]) == (True, [["<5", "x"], ["x", "x"]]), (
                agency,
                role,
            )
            summary = client.get("/summary", headers=headers).json()
            assert {c["count"] for c in summary["cases"]} == {"<5", "x"}, (agency, role)
    # Another role beside `statistician` takes nothing away; many roles add nothing.
    both = client.get("/reports/cases", headers=token(client, ["case_worker", "statistician"]))
    assert both.json()["suppressed"] is False
    many = client.get("/reports/cases", headers=token(client, OTHER_ROLES))
    assert many.json()["suppressed"] is True


def test_statisticians_export_exact_files_and_the_audit_says_so(
    client: TestClient, cases: None, store: Store
):
    headers = token(client, "statistician")
    exported = client.get("/reports/cases", headers=headers, params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[1:] == [
        ["01", "3", "12", "15"],
        ["79", "20", "9", "29"],
        ["total", "23", "21", "44"],
    ]
    workbook = client.get("/reports/cases", headers=headers, params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert [list(r) for r in sheet.iter_rows(min_row=2, max_row=2, values_only=True)] == [
        ["01", 3, 12, 15]
    ]
    case_worker = token(client, "case_worker", agency="police")
    suppressed = client.get("/reports/cases", headers=case_worker, params={"format": "csv"})
    assert suppressed.content.decode("utf-8-sig").splitlines()[1] == "01,<5,x,15"
    with Session(store.engine) as session:
        audits = session.exec(select(OutboxEvent).where(OutboxEvent.topic == AUDIT_EVENTS)).all()
    details = [(json.loads(a.value)["actor"], json.loads(a.value)["detail"]) for a in audits]
    assert [(actor, detail.split()[:2]) for actor, detail in details] == [
        ("dolisa-statistician-01", ["csv", "exact"]),
        ("dolisa-statistician-01", ["xlsx", "exact"]),
        ("police-case_worker-01", ["csv", "suppressed"]),
    ]


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
        "dolisa-coordinator-01",
    )
    assert payload["resource_id"] == "cases-province-by-case_type"


def test_json_reads_are_not_exports(client: TestClient, cases: None, store: Store):
    client.get("/reports/cases", headers=token(client, "coordinator"))
    with Session(store.engine) as session:
        assert session.exec(select(OutboxEvent)).all() == []


def test_indicators_hide_small_counts_and_their_percentages(client: TestClient, store: Store):
    store.feed([case("one")])
    for role in ("coordinator", "case_worker"):
        body = client.get("/reports/indicators", headers=token(client, role)).json()
        assert body["cases"] == "<5" and body["suppressed"] is True
        assert body["hotline_funnel"]["reports"] == "<5"
    exact = client.get("/reports/indicators", headers=token(client, "statistician")).json()
    assert exact["cases"] == 1 and exact["hotline_funnel"] == {
        "reports": 1,
        "referred": 0,
        "completed": 0,
    }
