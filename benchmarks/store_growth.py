"""Grow the local system's SQLite stores to N cases' worth of rows, for the growth benchmark.

The pipeline (~12 cases/s here) would need hours to store 200,000 cases. This copies what a
seed burst stored instead: every table whose rows come with cases is copied as many times as
it takes, each copy with new identifiers, so the stores hold N cases as the pipeline would
have left them (same rows per case, same indexes, same sizes).

- An identifier (a UUID, or a hex key or digest such as a deduplication key) becomes another
  one of the same form, derived from (copy, original); a time-ordered UUIDv7 stays one, its
  time moved back by the copy's number of 15-minute spans. The same case id therefore becomes the
  same new id in every table of every store: a copied case keeps its referrals, facts,
  notifications and inbox rows, and each copy is a different child (its deduplication keys
  differ too).
- Other values are kept; an integer row id is left to the database. A unique key with no
  identifier in it could not be copied: the copy fails loudly (none exists today).
- Only finished work is copied: no pending outbox row (it would be sent again) and no
  notification still to deliver. Directory tables (officers) and schema versions are not
  copied at all.

Copies are for the stores' size, not for reading back: a sealed column still names its
original case in its associated data.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from contextlib import closing
from pathlib import Path

UUID_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX_FORM = re.compile(r"[0-9a-f]{16,}")
COPY_SPAN_MS = 15 * 60 * 1000  # longer than a seed burst takes: copies never overlap
NOT_COPIED = {"officers", "inbox_sessions"}
# Rows of work still under way: copying them would make the system do it again.
UNFINISHED = {
    "outbox": "published_at IS NULL",
    "notifications": "status NOT IN ('delivered', 'failed', 'suppressed')",
}


SqlValue = str | bytes | int | float | None


def remapped(value: SqlValue, copy: int) -> SqlValue:
    """The value's counterpart in copy `copy`: identifiers change (form kept), others not."""
    if not isinstance(value, str):
        return value
    if UUID_FORM.fullmatch(value):  # formatted by hand: uuid.UUID objects were half the time
        h = hashlib.blake2b(f"{copy}:{value}".encode(), digest_size=16).hexdigest()
        if value[14] == "7":
            return _older_uuid7(value, copy, h)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if HEX_FORM.fullmatch(value):
        digest = hashlib.sha256(f"{copy}:{value}".encode()).hexdigest()
        return (digest * (len(value) // len(digest) + 1))[: len(value)]
    return value


def _older_uuid7(value: str, copy: int, h: str) -> str:
    # A UUIDv7 starts with the millisecond it was made: the copy's is `copy` spans earlier,
    # so copies sort as cases stored before the seed would, not scattered among new ones.
    millis = int(value[:8] + value[9:13], 16) - copy * COPY_SPAN_MS
    stamp = f"{millis:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7{h[13:16]}-{value[19]}{h[17:20]}-{h[20:]}"


def grow_store(path: Path, copies: int) -> dict[str, int]:
    """Adds `copies` copies of each case-bound table's finished rows; rows per table after."""
    with closing(sqlite3.connect(path)) as db:
        db.create_function("remapped", 2, remapped, deterministic=True)
        db.create_function("is_identifier", 1, is_identifier, deterministic=True)
        db.execute("PRAGMA synchronous = OFF")  # a benchmark's copy: no crash to survive
        sizes = {}
        for table in _tables(db):
            statement = _copy_statement(db, table)
            if statement is not None:
                with db:
                    for copy in range(1, copies + 1):
                        db.execute(statement, {"copy": copy})
            count = f'SELECT count(*) FROM "{table}"'  # noqa: S608 (names from sqlite_master)
            sizes[table] = db.execute(count).fetchone()[0]
        return sizes


def _tables(db: sqlite3.Connection) -> list[str]:
    names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [n for n in names if n not in NOT_COPIED and not n.startswith(("alembic_", "sqlite_"))]


def _copy_statement(db: sqlite3.Connection, table: str) -> str | None:
    columns = db.execute(f'PRAGMA table_info("{table}")').fetchall()
    # A lone INTEGER PRIMARY KEY is the row id: left to the database.
    keys = [c for c in columns if c[5]]
    row_id = keys[0][1] if len(keys) == 1 and keys[0][2].upper() == "INTEGER" else None
    copied = [c[1] for c in columns if c[1] != row_id]
    if not copied:
        return None
    names = ", ".join(f'"{name}"' for name in copied)
    values = ", ".join(
        f'remapped("{name}", :copy)' if _holds_identifiers(db, table, name) else f'"{name}"'
        for name in copied
    )
    # Copies are made from the stored rows as they were, never from earlier copies.
    last = f'SELECT max(rowid) FROM "{table}"'  # noqa: S608 (names from sqlite_master)
    original = db.execute(last).fetchone()[0] or 0
    finished = f" AND NOT ({UNFINISHED[table]})" if table in UNFINISHED else ""
    return (
        f'INSERT INTO "{table}" ({names}) SELECT {values} FROM "{table}" '  # noqa: S608
        f"WHERE rowid <= {original}{finished}"
    )


def is_identifier(value: SqlValue) -> bool:
    return isinstance(value, str) and bool(UUID_FORM.fullmatch(value) or HEX_FORM.fullmatch(value))


def _holds_identifiers(db: sqlite3.Connection, table: str, column: str) -> bool:
    """Only such columns go through Python when copied: the others are copied as they are."""
    query = f'SELECT 1 FROM "{table}" WHERE is_identifier("{column}") LIMIT 1'  # noqa: S608
    return db.execute(query).fetchone() is not None


def grow_stores(data_dir: Path, cases: int) -> dict[str, dict[str, int]]:
    """Every store under `data_dir` grown to hold about `cases` cases (copies of what the
    cases store holds now); rows per table of each store after."""
    with closing(sqlite3.connect(data_dir / "cases.db")) as db:
        stored = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    if stored == 0:
        raise ValueError("nothing to grow from: the cases store is empty")
    copies = max(0, round(cases / stored) - 1)
    return {path.stem: grow_store(path, copies) for path in sorted(data_dir.glob("*.db"))}


def unfinished_rows(data_dir: Path) -> int:
    """Rows of work still under way in every store (what copies leave out): wait for none
    before copying, so nothing is left out."""
    total = 0
    for path in data_dir.glob("*.db"):
        with closing(sqlite3.connect(path)) as db:
            tables = set(_tables(db))
            for table, condition in UNFINISHED.items():
                if table in tables:
                    count = f'SELECT count(*) FROM "{table}" WHERE {condition}'  # noqa: S608
                    total += db.execute(count).fetchone()[0]
    return total
