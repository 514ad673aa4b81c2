"""Bulk import of beneficiary profile lists (CSV or XLSX) as case intakes.

Each row is checked exactly like an API report (same schema, same channel rules) and, when
valid, recorded in its own transaction together with its idempotency key: a row is either
fully imported or not at all, and a re-run of the same file skips what is already in.
The key is the row's `profile_id` when the list has one, else a keyed hash (HMAC) of the
row's values.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cases import handlers
from cases.adapters import audit
from cases.adapters.store import SqlStore
from cases.adapters.tables import ImportedRow
from cases.api.schemas import CaseReportIn
from cases.domain.intake import missing_for_channel
from chassis.auth import Principal
from chassis.outbox import Lane
from chassis.unit_of_work import unit_of_work
from contracts.vocabulary import AuditAction

CHILD = ("full_name", "date_of_birth", "sex", "address", "phone", "guardian_name", "guardian_phone")
WORKPLACE = {
    "workplace_name": "name",
    "workplace_address": "address",
    "employer_name": "employer_name",
    "industry": "industry",
}
CIRCUMSTANCES = ("employer_identified", "out_of_school", "signs_of_forced_labour")
CONSENT = ("child_consented", "guardian_consented", "legal_override_reason")
TOP = ("channel", "case_type", "risk_level", "province_code", "commune_code", "summary")
COLUMNS = ("profile_id", *TOP, *CHILD, *WORKPLACE, *CIRCUMSTANCES, *CONSENT)
_TRUE = {"true", "yes", "y", "1", "x", "có", "co"}
_FALSE = {"false", "no", "n", "0", "không", "khong"}


@dataclass(frozen=True)
class RowError:
    row: int  # spreadsheet row number: the header is row 1
    field: str
    message: str


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0  # already imported by an earlier run
    errors: list[RowError] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, column → value) for each non-empty data row of a CSV or XLSX file."""
    if path.suffix.lower() == ".xlsx":
        yield from _xlsx_rows(path)
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as file:
            for number, row in enumerate(csv.DictReader(file), start=2):
                if any((value or "").strip() for value in row.values()):
                    yield number, {(k or "").strip(): v for k, v in row.items()}
    else:
        raise ValueError(f"unsupported file type {path.suffix!r}: use .csv or .xlsx")


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
        for number, values in enumerate(rows, start=2):
            if any(value not in (None, "") for value in values):
                yield number, dict(zip(header, values, strict=False))
    finally:
        workbook.close()


def report_body(row: dict[str, Any]) -> dict[str, Any]:
    """A flat row as the nested body of `POST /cases` (codes padded, yes/no as booleans)."""
    text = {key: _text(row.get(key)) for key in COLUMNS}
    for key, width in (("province_code", 2), ("commune_code", 5)):
        if text[key] and text[key].isdigit():  # type: ignore[union-attr]
            text[key] = text[key].zfill(width)  # type: ignore[union-attr]
    body: dict[str, Any] = {key: text[key] for key in TOP if text[key] is not None}
    body["child"] = {key: text[key] for key in CHILD if text[key] is not None}
    workplace = {name: text[column] for column, name in WORKPLACE.items() if text[column]}
    if workplace:
        body["workplace"] = workplace
    body["circumstances"] = {key: _flag(text[key]) for key in CIRCUMSTANCES if text[key]}
    consent: dict[str, Any] = {key: _flag(text[key]) for key in CONSENT[:2] if text[key]}
    if text["legal_override_reason"]:
        consent["legal_override_reason"] = text["legal_override_reason"]
    body["consent"] = consent
    return body


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    stripped = str(value).strip()
    return stripped or None


def _flag(value: str | None) -> bool | str | None:
    """Yes/no words as booleans; anything else is left for the schema to refuse by name."""
    if value is None:
        return None
    lowered = value.casefold()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return value


def row_key(row: dict[str, Any], secret: bytes) -> str:
    """Keyed (HMAC), so the stored key cannot be checked against a guessed name and birth
    date the way a plain hash of the row could."""
    profile = _text(row.get("profile_id"))
    material = f"profile:{profile}" if profile else json.dumps(report_body(row), sort_keys=True)
    return hmac.new(secret, material.encode("utf-8"), hashlib.sha256).hexdigest()


def import_file(
    path: Path,
    engine: Engine,
    deps: handlers.CaseDeps,
    *,
    operator: Principal,
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    report = ImportReport()
    for number, row in read_rows(path):
        _import_row(number, row, engine, deps, operator, report, path.name)
        on_row()
    return report


def _import_row(
    number: int,
    row: dict[str, Any],
    engine: Engine,
    deps: handlers.CaseDeps,
    operator: Principal,
    report: ImportReport,
    source: str,
) -> None:
    try:
        body = CaseReportIn.model_validate(report_body(row))
    except ValidationError as error:
        report.errors += [_row_error(number, issue) for issue in error.errors()]
        return
    command = body.to_command(reported_by=operator.subject, received_at=_now())
    missing = missing_for_channel(body.channel, command.present_fields())
    if missing:
        message = f"required for channel {body.channel.value}"
        report.errors += [RowError(number, _column(name), message) for name in missing]
        return
    if not operator.serves_province(body.province_code):
        report.errors.append(RowError(number, "province_code", "outside the operator's provinces"))
        return
    key = row_key(row, deps.dedup_secret)
    try:
        # The bulk lane: an import enters the pipeline as fast as it drains (chassis.pacing).
        with unit_of_work(engine, source="/cases/import", lane=Lane.BULK) as uow:
            if uow.session.get(ImportedRow, key) is not None:
                report.skipped += 1
                return
            record = handlers.record_case(SqlStore(uow), command, deps)
            uow.session.add(
                ImportedRow(row_key=key, case_id=record.id, source=source, imported_at=_now())
            )
            audit.record_access(
                uow, operator, AuditAction.CREATE, "case", record.id, detail="bulk import"
            )
    except IntegrityError:  # a concurrent run imported the same row first
        report.skipped += 1
        return
    report.imported += 1


def _row_error(number: int, issue: Any) -> RowError:
    path = ".".join(str(part) for part in issue["loc"])
    return RowError(number, _column(path) or "row", str(issue["msg"]))


def _column(path: str) -> str:
    """A body path as the file's column name: child.address → address."""
    head, _, rest = path.partition(".")
    if head == "workplace" and rest:
        return {name: column for column, name in WORKPLACE.items()}.get(rest, rest)
    if head in {"child", "circumstances", "consent"} and rest:
        return rest
    return path


def _now() -> datetime:
    return datetime.now(UTC)
