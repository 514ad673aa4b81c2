"""`lienganh-report` prints the suppressed table and writes files that open."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from chassis.auth import LocalIssuer
from contracts.vocabulary import CaseType
from reporting import cli
from reporting.bootstrap import create_api
from reporting.config import ReportingSettings
from services.reporting.tests.events import case
from services.reporting.tests.store import Store


@pytest.fixture
def api(store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    app = create_api(ReportingSettings(data_dir=tmp_path, database_url=database_url))

    def in_process(url: str, token: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {token}"})

    monkeypatch.setattr(cli, "client_factory", in_process)
    store.feed(case(f"c{n}", case_type=CaseType.CHILD_LABOUR) for n in range(7))
    store.feed(case(f"t{n}", case_type=CaseType.AT_RISK, province_code="79") for n in range(2))
    return issuer.mint("coordinator-01", "dolisa", ["coordinator"], ["*"])


def test_report_cli_prints_and_writes_csv_and_xlsx(api: str, tmp_path: Path):
    out_csv, out_xlsx = tmp_path / "cases.csv", tmp_path / "cases.xlsx"
    result = CliRunner().invoke(
        cli.app,
        ["cases", "--token", api, "--csv", str(out_csv), "--xlsx", str(out_xlsx)],
    )
    assert result.exit_code == 0, result.output
    assert "province by case_type" in result.output
    assert "<5" in result.output
    rows = list(csv.reader(out_csv.read_text(encoding="utf-8-sig").splitlines()))
    # Worked by hand: 2 (79, at_risk), its row total and column total are primary; the
    # column-total row then needs 7 hidden, column child_labour the inner 7, row 01 its
    # other inner cell (a zero) and the row-total column the 7 of row 01. Case type by
    # province also hides the zero of (79, child_labour): the union of both ways is hidden.
    assert rows[1:] == [["01", "x", "x", "x"], ["79", "<5", "x", "<5"], ["total", "<5", "x", "9"]]
    sheet = load_workbook(out_xlsx).active
    assert sheet.cell(3, 2).value == "<5" and sheet.cell(4, 4).value == 9


def test_report_cli_says_why_the_api_refused(api: str):
    result = CliRunner().invoke(cli.app, ["cases", "--token", api, "--rows", "name"])
    assert result.exit_code != 0
    assert "422" in result.output
