"""Bulk import of beneficiary profile lists (CSV or XLSX) as case intakes.

Each row is checked exactly like an API report (same schema, same channel rules); a bad
row is reported by number and column and never written. Valid rows are recorded a batch at
a time (`BATCH_ROWS`), each batch in one transaction with the rows' idempotency keys, so a
row is either fully imported or not at all, and a re-run of the same file skips what is
already in. A batch that meets a concurrent run's rows is redone row by row. The key is
the row's `profile_id` when the list has one, else a keyed hash (HMAC) of the row's values.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import hmac
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain, islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cases import handlers
from cases.adapters import audit
from cases.adapters.batch_store import PreparedBatch
from cases.adapters.tables import ImportedRow
from cases.api.schemas import CaseReportIn
from cases.batch_intake import CaseBatch, reading_session, write_unless_overtaken
from cases.domain.commands import RecordCase
from cases.domain.intake import missing_for_channel
from cases.turns import Turns
from chassis.auth import Principal
from chassis.db import bulk_writing, checkpoint, transaction
from chassis.heap import frozen_heap
from chassis.outbox import Lane
from chassis.tracing import ensure_span
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
BATCH_ROWS = 200  # rows per transaction: short enough not to hold up live intake
# Batches a process writes between its checkpoints (`_Checkpoints`): with two processes a
# checkpoint every ~1,000 rows, the WAL under ~40 MiB, as SQLite's at 10,000 pages kept it.
CHECKPOINT_EVERY_BATCHES = 5
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
    if type(value) is str:  # every CSV value: the other types come from spreadsheets
        return value.strip() or None
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
    batch_rows: int = BATCH_ROWS,
    jobs: int = 1,
) -> ImportReport:
    """Import `path`; `jobs` > 1 imports batches in that many forked processes, which
    prepare them side by side and write them in turn, in file order: for a large list on an
    otherwise quiet machine."""
    report = ImportReport()
    checkpoints = _Checkpoints(engine, every=CHECKPOINT_EVERY_BATCHES)
    context = _Context(engine, deps, operator, path.name, checkpoints)
    batches = _batches(read_rows(path), batch_rows)
    # Everything alive before the import (modules, models, caches) is left out of the
    # collector's full passes while it runs, the forked processes' too: ~3 % of its CPU.
    with (
        frozen_heap(),
        bulk_writing(engine, pages=0),  # checkpoints are `_Checkpoints`'s to run
        _importing(context, batches, jobs) as imported,
    ):
        for batch in imported:
            report.imported += batch.report.imported
            report.skipped += batch.report.skipped
            report.errors += batch.report.errors
            for _ in range(batch.rows):
                on_row()
        checkpoint(engine)  # what the last batches left in the WAL
    return report


@dataclass
class _Checkpoints:
    """When an importing process checkpoints the WAL, SQLite's own checkpoints being off
    while it imports (`bulk_writing(pages=0)`).

    SQLite checkpoints in the commit that fills the WAL, so the process whose turn it was
    synced the database (80 to 100 ms) while the other waited for its turn: most of what the
    processes waited. Here a process checkpoints after its turn, every `every` batches it
    wrote, beside the other's write. A WAL written to throughout a checkpoint never starts
    over, so at its next turn, before writing, the process checkpoints the little written
    since: its write then starts the WAL from the beginning. A forked process has a copy
    of its own."""

    engine: Engine
    every: int = CHECKPOINT_EVERY_BATCHES
    written: int = 0
    catching_up: bool = False

    def in_turn(self) -> None:
        if self.catching_up:
            checkpoint(self.engine)
            self.catching_up = False

    def after_turn(self) -> None:
        self.written += 1
        if self.written % self.every == 0:
            checkpoint(self.engine)
            self.catching_up = True


@dataclass(frozen=True)
class _Context:
    """Where one run imports to, and as whom."""

    engine: Engine
    deps: handlers.CaseDeps
    operator: Principal
    source: str  # the file's name, kept with each imported row
    checkpoints: _Checkpoints


@dataclass(frozen=True)
class _Ready:
    """A row that passed every check: its number, idempotency key and intake command."""

    number: int
    key: str
    command: RecordCase


@dataclass
class _Prepared:
    """A batch of the file, checked and prepared; nothing of it written yet."""

    numbered: list[tuple[int, dict[str, Any]]]  # the rows of the file it covers
    errors: list[RowError]
    passed: int  # rows that passed every check
    batch: PreparedBatch | None  # None when no row passed the checks


@dataclass(frozen=True)
class _Imported:
    """What importing one batch did: all that comes back from a forked process. The batch
    itself never crosses: pickling its rows and events back to one writing process cost a
    tenth of the import's CPU."""

    rows: int  # rows of the file it covered
    report: ImportReport


def _import_batch(
    context: _Context,
    numbered: list[tuple[int, dict[str, Any]]],
    turn: AbstractContextManager[object] | None = None,
) -> _Imported:
    """Prepares the batch, then writes it (inside `turn`: when its turn comes)."""
    prepared = _prepare_batch(context, numbered)
    report = ImportReport()
    with turn or nullcontext():
        context.checkpoints.in_turn()
        _Importer(context, report).write(prepared)
    context.checkpoints.after_turn()
    return _Imported(len(numbered), report)


def _prepare_batch(context: _Context, numbered: list[tuple[int, dict[str, Any]]]) -> _Prepared:
    """Checks every row, then records the valid ones over a reading session."""
    checks = ImportReport()
    ready = _checked_rows(numbered, context, checks)
    if not ready:
        return _Prepared(numbered, checks.errors, 0, None)
    with ensure_span("prepare import batch"), reading_session(context.engine) as reading:
        batch = _prepare(reading, ready, context, reading=True)
    return _Prepared(numbered, checks.errors, len(ready), batch)


def _checked_rows(
    numbered: list[tuple[int, dict[str, Any]]], context: _Context, report: ImportReport
) -> list[_Ready]:
    """The rows that pass every check; the others' errors go to `report`."""
    return [
        checked
        for number, row in numbered
        if (checked := _checked_row(number, row, context.deps, context.operator, report))
    ]


@contextmanager
def _importing(
    context: _Context, batches: Iterator[list[tuple[int, dict[str, Any]]]], jobs: int
) -> Iterator[Iterator[_Imported]]:
    """Imported batches in file order: here, or by `jobs` forked processes (a child
    inherits the keys and settings; its engine opens its own connections)."""
    if jobs <= 1:
        yield (_import_batch(context, numbered) for numbered in batches)
        return
    # The first batch is imported here, before the fork: the children inherit what it
    # loaded on first use (the holidays' rules, the field policy, caches) instead of each
    # loading it again, ~0.5 s of CPU a child.
    first = [_import_batch(context, numbered) for numbered in islice(batches, 1)]
    gc.freeze()  # what that loaded too (`frozen_heap`)
    forking = get_context("fork")
    global _FORKED
    _FORKED = _Forked(context, Turns(forking, first=1))
    pool = ProcessPoolExecutor(jobs, mp_context=forking, initializer=_forked)
    try:
        yield chain(first, _in_order(pool, batches, ahead=2 * jobs))
    finally:
        _FORKED.turns.abort()  # after a failure, a batch still waiting writes nothing
        pool.shutdown(cancel_futures=True)
        _FORKED = None


@dataclass(frozen=True)
class _Forked:
    """What the forked processes inherit: the run, and whose turn it is to write."""

    context: _Context
    turns: Turns


_FORKED: _Forked | None = None


def _forked() -> None:
    assert _FORKED is not None
    _FORKED.context.engine.dispose(close=False)  # the parent's connections stay the parent's


def _import_forked(index: int, numbered: list[tuple[int, dict[str, Any]]]) -> _Imported:
    assert _FORKED is not None
    return _import_batch(_FORKED.context, numbered, _FORKED.turns.take(index))


def _in_order(
    pool: ProcessPoolExecutor, batches: Iterator[list[tuple[int, dict[str, Any]]]], ahead: int
) -> Iterator[_Imported]:
    """At most `ahead` batches in flight, so a million-row file is never all in memory.
    They are numbered from 1 (the first was imported before the fork) and started in that
    order, so the batch whose turn it is to write is always running or done."""
    pending: deque[Future[_Imported]] = deque()
    for index, numbered in enumerate(batches, start=1):
        pending.append(pool.submit(_import_forked, index, numbered))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _checked_row(
    number: int,
    row: dict[str, Any],
    deps: handlers.CaseDeps,
    operator: Principal,
    report: ImportReport,
) -> _Ready | None:
    try:
        body = CaseReportIn.model_validate(report_body(row))
    except ValidationError as error:
        report.errors += [_row_error(number, issue) for issue in error.errors()]
        return None
    command = body.to_command(reported_by=operator.subject, received_at=_now())
    missing = missing_for_channel(body.channel, command.present_fields())
    if missing:
        message = f"required for channel {body.channel.value}"
        report.errors += [RowError(number, _column(name), message) for name in missing]
        return None
    if not operator.serves_province(body.province_code):
        report.errors.append(RowError(number, "province_code", "outside the operator's provinces"))
        return None
    return _Ready(number, row_key(row, deps.dedup_secret), command)


@dataclass
class _Importer:
    """Writes prepared batches and counts what they did."""

    context: _Context
    report: ImportReport

    def write(self, prepared: _Prepared) -> None:
        """One short transaction for the batch; counted only once it committed."""
        self.report.errors += prepared.errors
        batch = prepared.batch
        if batch is None:
            return
        try:
            written = write_unless_overtaken(
                self.context.engine,
                batch,
                overtaken=lambda session: bool(already_imported(session, batch.keys)),
            )
        except IntegrityError:  # a concurrent run (PostgreSQL) wrote one of its rows first
            written = False
        if not written:
            # Another writer stored one of these rows, or a case they may duplicate, since
            # the batch was prepared: each row again, inside its own transaction.
            # Their errors are counted already.
            for one in _checked_rows(prepared.numbered, self.context, ImportReport()):
                self._locked(one)
            return
        self._count(batch, prepared.passed)

    def _locked(self, item: _Ready) -> None:
        """One row, prepared and written inside the write lock."""
        try:
            with ensure_span("import row"), transaction(self.context.engine) as session:
                batch = _prepare(session, [item], self.context)
                batch.write(session)
        except IntegrityError:  # a concurrent run (PostgreSQL) imported the same row first
            self.report.skipped += 1
            return
        self._count(batch, 1)

    def _count(self, batch: PreparedBatch, rows: int) -> None:
        self.report.imported += len(batch.keys)
        self.report.skipped += rows - len(batch.keys)


def _prepare(
    session: Session, ready: list[_Ready], context: _Context, *, reading: bool = False
) -> PreparedBatch:
    """Records the rows no earlier run imported (nor an earlier row of this file), over
    `session`, into a batch of rows and events to write (`reading`: see `CaseBatch`)."""
    taken = already_imported(session, [item.key for item in ready])
    new: list[_Ready] = []
    for item in ready:
        if item.key not in taken:
            taken.add(item.key)
            new.append(item)
    # The bulk lane: an import enters the pipeline as fast as it drains (chassis.pacing).
    batch = CaseBatch(
        session,
        [item.command for item in new],
        context.deps,
        source="/cases/import",
        lane=Lane.BULK,
        reading=reading,
    )
    for item in new:
        record = batch.record(item.command)
        batch.store.add(
            batch.store.row(
                ImportedRow,
                row_key=item.key,
                case_id=record.id,
                source=context.source,
                imported_at=_now(),
            )
        )
        audit.record_access(
            batch.uow, context.operator, AuditAction.CREATE, "case", record.id, detail="bulk import"
        )
    return batch.prepared([item.key for item in new])


def already_imported(session: Session, keys: list[str]) -> set[str]:
    """The row keys among `keys` that an earlier run imported."""
    query = select(ImportedRow.row_key).where(col(ImportedRow.row_key).in_(keys))
    return set(session.exec(query))


def _batches(
    rows: Iterator[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    batch: list[tuple[int, dict[str, Any]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


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
