"""Bulk import: good rows in, bad rows reported by row and field, re-runs add nothing."""

from __future__ import annotations

import csv
import gc
from multiprocessing import get_context
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Connection, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from cases import bulk_import, handlers
from cases.adapters.batch_store import PreparedBatch
from cases.adapters.tables import CaseRecord, DuplicateLink, ImportedRow
from cases.bulk_import import COLUMNS, RowError, import_file, row_key
from chassis.auth import Principal
from chassis.db import BULK_CACHE_KIB
from services.cases.tests.support import CasesApi, report

OPERATOR = Principal("dolisa-import-hn", "dolisa", frozenset({"intake"}), frozenset({"01"}))
GOOD = {
    "profile_id": "HN-2026-0001",
    "channel": "commune_collaborator",
    "case_type": "child_labour",
    "risk_level": "medium",
    "province_code": "1",  # spreadsheets drop leading zeros
    "commune_code": "70",
    "full_name": "Bùi Thị Thảo",
    "date_of_birth": "2012-09-15",
    "sex": "female",
    "address": "thôn Đông, xã Hoàn Kiếm",
    "guardian_consented": "có",
    "child_consented": "yes",
}
ROWS = [
    GOOD,
    {**GOOD, "profile_id": "HN-2026-0002", "full_name": "Đinh Văn Long", "sex": "male"},
    {**GOOD, "profile_id": "HN-2026-0003", "province_code": "99"},
    {**GOOD, "profile_id": "HN-2026-0004", "address": ""},
    {**GOOD, "profile_id": "HN-2026-0005", "sex": "girl", "date_of_birth": "15/09/2012"},
    {**GOOD, "profile_id": "", "full_name": "Mai Thị Ngân"},  # no id: the row hash is its key
    {**GOOD, "profile_id": "HN-2026-0007", "province_code": "79", "commune_code": "26506"},
]
EXPECTED_ERRORS = {
    (4, "province_code"),
    (5, "address"),
    (6, "sex"),
    (6, "date_of_birth"),
    (8, "province_code"),
}


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row.get(column) or None for column in COLUMNS])
    workbook.save(path)
    return path


def cases_in(api: CasesApi) -> int:
    with Session(api.engine) as session:
        return len(session.exec(select(CaseRecord)).all())


def run(api: CasesApi, path: Path):  # type: ignore[no-untyped-def]
    deps = api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    return import_file(path, api.engine, deps, operator=OPERATOR)


def test_a_mixed_csv_imports_the_good_rows_and_names_each_bad_one(
    cases_api: CasesApi, tmp_path: Path
):
    path = write_csv(tmp_path / "profiles.csv", ROWS)
    first = run(cases_api, path)
    assert (first.imported, first.skipped) == (3, 0)
    assert {(e.row, e.field) for e in first.errors} == EXPECTED_ERRORS
    assert RowError(8, "province_code", "outside the operator's provinces") in first.errors
    assert cases_in(cases_api) == 3
    assert len(cases_api.events("vn.lienganh.case.received.v1")) == 3
    again = run(cases_api, path)
    assert (again.imported, again.skipped) == (0, 3)
    assert cases_in(cases_api) == 3
    assert gc.get_freeze_count() == 0  # the heap frozen for the run is the collector's again


def test_the_same_list_as_xlsx_imports_alike(cases_api: CasesApi, tmp_path: Path):
    result = run(cases_api, write_xlsx(tmp_path / "profiles.xlsx", ROWS))
    assert result.imported == 3
    assert {(e.row, e.field) for e in result.errors} == EXPECTED_ERRORS
    with Session(cases_api.engine) as session:
        assert {row.source for row in session.exec(select(ImportedRow))} == {"profiles.xlsx"}
        codes = {(c.province_code, c.commune_code) for c in session.exec(select(CaseRecord))}
    assert codes == {("01", "00070")}


def test_the_cli_shows_progress_and_reports_bad_rows(
    cases_api: CasesApi, tmp_path: Path, monkeypatch
):
    from cases.cli import app

    monkeypatch.setenv("CASES_DATA_DIR", str(cases_api.settings.data_dir))
    monkeypatch.setenv("CASES_DATABASE_URL", str(cases_api.settings.database_url))
    path = write_csv(tmp_path / "profiles.csv", ROWS)
    args = [
        "import",
        str(path),
        "--operator",
        "dolisa-import-hn",
        "--province",
        "01",
        "--jobs",
        "2",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "3 imported, 0 already imported, 4 row(s) with errors" in result.output
    assert "province_code" in result.output
    assert cases_in(cases_api) == 3


def links_in(api: CasesApi) -> set[tuple[str, str, str]]:
    """(newer case's profile, older case's profile, match) for every duplicate link."""
    with Session(api.engine) as session:
        profile = {row.case_id: row.row_key for row in session.exec(select(ImportedRow))}
        return {
            (profile[link.case_id], profile[link.other_case_id], link.match)
            for link in session.exec(select(DuplicateLink))
        }


def assert_twins_linked(api: CasesApi, twins: list[dict]) -> None:
    """HN-2026-0001 and -0103 are one child, -0101 the same without diacritics."""
    deps = api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    key = {row["profile_id"]: row_key(row, deps.dedup_secret) for row in twins}
    first, plain, twin = key["HN-2026-0001"], key["HN-2026-0101"], key["HN-2026-0103"]
    assert links_in(api) == {
        (plain, first, "without_diacritics"),
        (twin, first, "exact"),
        (twin, plain, "without_diacritics"),
    }


def test_the_same_child_twice_in_a_list_is_linked_within_and_across_batches(
    cases_api: CasesApi, tmp_path: Path
):
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    twins = [
        GOOD,
        {**GOOD, "profile_id": "HN-2026-0101", "full_name": "Bui Thi Thao"},  # no diacritics
        {**GOOD, "profile_id": "HN-2026-0102", "full_name": "Đinh Văn Long", "sex": "male"},
        {**GOOD, "profile_id": "HN-2026-0103"},  # the first row's child again
    ]
    path = write_csv(tmp_path / "profiles.csv", twins)
    # Batches of three: rows 1 and 2 meet in one batch, row 4 meets them from the next.
    result = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=3)
    assert result.imported == 4
    assert_twins_linked(cases_api, twins)


def test_a_row_listed_twice_is_imported_once(cases_api: CasesApi, tmp_path: Path):
    result = run(cases_api, write_csv(tmp_path / "profiles.csv", [GOOD, ROWS[1], GOOD]))
    assert (result.imported, result.skipped, result.errors) == (2, 1, [])
    assert cases_in(cases_api) == 2


def test_a_batch_that_meets_a_concurrent_runs_rows_is_redone_row_by_row(
    cases_api: CasesApi, tmp_path: Path, monkeypatch
):
    run(cases_api, write_csv(tmp_path / "first.csv", [GOOD]))
    # The other run commits its row after this batch looked: the batch's insert fails.
    monkeypatch.setattr(bulk_import, "already_imported", lambda session, keys: set())
    result = run(cases_api, write_csv(tmp_path / "both.csv", [GOOD, ROWS[1]]))
    assert (result.imported, result.skipped, result.errors) == (1, 1, [])
    assert cases_in(cases_api) == 2
    assert len(cases_api.events("vn.lienganh.case.received.v1")) == 2  # none from the failure


def test_each_imported_case_is_announced_and_audited_in_file_order(
    cases_api: CasesApi, tmp_path: Path
):
    run(cases_api, write_csv(tmp_path / "profiles.csv", ROWS))
    received = cases_api.events("vn.lienganh.case.received.v1")
    audits = cases_api.events("vn.lienganh.audit.recorded.v1")
    with Session(cases_api.engine) as session:
        case_of = {row.row_key: row.case_id for row in session.exec(select(ImportedRow))}
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    in_file = [case_of[row_key(row, deps.dedup_secret)] for row in (ROWS[0], ROWS[1], ROWS[5])]
    assert [event["case_id"] for event in received] == in_file
    assert [event["resource_id"] for event in audits] == in_file
    assert {event["detail"] for event in audits} == {"bulk import"}


def test_batches_of_two_processes_are_written_in_file_order(
    cases_api: CasesApi, tmp_path: Path, monkeypatch
):
    """The third row's batch is ready first, yet written after the second row's."""
    prepare = bulk_import._prepare
    third_prepared = get_context("fork").Event()

    def second_prepared_after_third(session, ready, context, **options):  # type: ignore[no-untyped-def]
        if ready[0].number == 3:  # the second row (the header is row 1)
            third_prepared.wait(timeout=60)
        batch = prepare(session, ready, context, **options)
        if ready[0].number == 4:
            third_prepared.set()
        return batch

    monkeypatch.setattr(bulk_import, "_prepare", second_prepared_after_third)
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    rows = [ROWS[0], ROWS[1], ROWS[5]]
    path = write_csv(tmp_path / "profiles.csv", rows)
    result = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=1, jobs=2)
    assert (result.imported, result.errors) == (3, [])
    with Session(cases_api.engine) as session:
        case_of = {row.row_key: row.case_id for row in session.exec(select(ImportedRow))}
    in_file = [case_of[row_key(row, deps.dedup_secret)] for row in rows]
    received = cases_api.events("vn.lienganh.case.received.v1")
    assert [event["case_id"] for event in received] == in_file


def settings_of(connection: Connection) -> tuple[int, int]:
    return (
        connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one(),
        connection.execute(text("PRAGMA cache_size")).scalar_one(),
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_batches_are_written_with_the_bulk_settings(
    cases_api: CasesApi, tmp_path: Path, monkeypatch, jobs: int
):
    """No checkpoint of SQLite's own (the import runs them: `_Checkpoints`) and a large
    cache (`chassis.db.bulk_writing`), in forked processes too; the store's connections are
    as before afterwards."""
    if cases_api.engine.dialect.name != "sqlite":
        pytest.skip("SQLite settings")
    write = PreparedBatch.write
    noted = tmp_path / "settings"  # a file: forked processes write it too

    def write_noting_settings(self, session):  # type: ignore[no-untyped-def]
        with noted.open("a") as file:
            file.write(f"{settings_of(session.connection())}\n")
        write(self, session)

    monkeypatch.setattr(PreparedBatch, "write", write_noting_settings)
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    path = write_csv(tmp_path / "profiles.csv", [ROWS[0], ROWS[1], ROWS[5]])
    result = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=1, jobs=jobs)
    assert result.imported == 3
    bulk = (0, -BULK_CACHE_KIB)
    assert noted.read_text().splitlines() == [str(bulk)] * 3
    with cases_api.engine.connect() as connection:
        assert settings_of(connection) == (1000, -2000)  # SQLite's own


def test_the_wal_starts_over_every_few_batches_of_an_import(
    cases_api: CasesApi, tmp_path: Path, monkeypatch
):
    """SQLite's own checkpoints are off while an import writes; the import's (outside its
    write turns) still let the WAL start over every few batches, instead of growing with
    the file. The WAL file keeps the size it grew to."""
    if cases_api.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's WAL")
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    wal = Path(f"{cases_api.engine.url.database}-wal")
    rows = [
        {**GOOD, "profile_id": f"HN-WAL-{number:04d}", "full_name": f"Bùi Thị Thảo {number}"}
        for number in range(60)
    ]

    def wal_size_after_importing(part: list[dict], every: int) -> int:
        monkeypatch.setattr(bulk_import, "CHECKPOINT_EVERY_BATCHES", every)
        with cases_api.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL
        path = write_csv(tmp_path / f"every-{every}.csv", part)
        result = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=1)
        assert result.imported == len(part)
        return wal.stat().st_size

    checkpointed = wal_size_after_importing(rows[:30], every=2)
    never = wal_size_after_importing(rows[30:], every=10**6)
    assert 0 < checkpointed * 4 < never


def test_batches_are_sealed_and_encoded_outside_any_transaction(
    cases_api: CasesApi, tmp_path: Path, monkeypatch
):
    """No read snapshot is kept while a batch is prepared: under SQLite one kept the WAL
    from being checkpointed back to its start."""
    record_case = handlers.record_case
    in_transaction: list[bool] = []

    def noting_transaction(store, command, deps, **options):  # type: ignore[no-untyped-def]
        in_transaction.append(store.session.in_transaction())
        return record_case(store, command, deps, **options)

    monkeypatch.setattr(handlers, "record_case", noting_transaction)
    result = run(cases_api, write_csv(tmp_path / "profiles.csv", ROWS))
    assert result.imported == 3
    assert in_transaction == [False] * 3


def test_a_case_reported_while_a_batch_is_prepared_is_still_linked(
    cases_api: CasesApi, tmp_path: Path, monkeypatch
):
    prepare = bulk_import._prepare
    reported: list[str] = []

    def prepare_then_a_report_arrives(*args, **kwargs):  # type: ignore[no-untyped-def]
        batch = prepare(*args, **kwargs)
        if not reported:  # a hotline report of the same child, before the batch is written
            child = {"full_name": GOOD["full_name"], "date_of_birth": GOOD["date_of_birth"]}
            body = report(commune_code="00070", child={**child, "sex": "female"})
            response = cases_api.post("/cases", cases_api.hotline(), body)
            assert response.status_code == 201, response.text
            reported.append(response.json()["case_id"])
        return batch

    monkeypatch.setattr(bulk_import, "_prepare", prepare_then_a_report_arrives)
    result = run(cases_api, write_csv(tmp_path / "profiles.csv", [GOOD, ROWS[1]]))
    assert (result.imported, result.errors) == (2, [])
    with Session(cases_api.engine) as session:
        links = [(link.other_case_id, link.match) for link in session.exec(select(DuplicateLink))]
    assert links == [(reported[0], "exact")]
    assert cases_in(cases_api) == 3


def test_batches_prepared_by_two_processes_import_as_one_would(cases_api: CasesApi, tmp_path: Path):
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    path = write_csv(tmp_path / "profiles.csv", ROWS)
    result = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=2, jobs=2)
    assert (result.imported, result.skipped) == (3, 0)
    assert {(e.row, e.field) for e in result.errors} == EXPECTED_ERRORS
    again = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=2, jobs=2)
    assert (again.imported, again.skipped) == (0, 3)
    assert cases_in(cases_api) == 3
    assert gc.get_freeze_count() == 0  # the heap frozen for the run is the collector's again


def test_the_same_child_in_batches_prepared_side_by_side_is_still_linked(
    cases_api: CasesApi, tmp_path: Path
):
    """Each row its own batch, prepared ahead in two processes: a batch cannot see the
    cases of the batch before it, so the writer finds them new and redoes it."""
    deps = cases_api.client.app.state.service_context.deps  # type: ignore[attr-defined]
    twins = [
        GOOD,
        {**GOOD, "profile_id": "HN-2026-0101", "full_name": "Bui Thi Thao"},
        {**GOOD, "profile_id": "HN-2026-0103"},
        GOOD,  # listed twice: the second is a skip, not a second case
    ]
    path = write_csv(tmp_path / "profiles.csv", twins)
    result = import_file(path, cases_api.engine, deps, operator=OPERATOR, batch_rows=1, jobs=2)
    assert (result.imported, result.skipped, result.errors) == (3, 1, [])
    assert_twins_linked(cases_api, twins)
