"""The growth benchmark's copies: N cases' worth of rows that still hang together."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from store_growth import grow_stores, remapped, unfinished_rows

CASE = "6ac47088-8c8c-4b2d-b033-512047a661b5"
KEY = "d7600cdfc242d46237bcb495b898cd076343f7a0d5bdb8f3887ca80150f69aab"


def _store(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        for statement in statements:
            db.execute(statement)


def test_an_identifier_becomes_another_of_its_form_the_same_in_every_store():
    first, again, other_copy = remapped(CASE, 1), remapped(CASE, 1), remapped(CASE, 2)
    assert first == again != CASE and other_copy not in (CASE, first)
    assert len(first) == 36 and first.count("-") == 4
    digest = remapped(KEY, 1)
    assert isinstance(digest, str) and len(digest) == 64 and digest != KEY
    assert remapped("01", 1) == "01" and remapped("delivered", 3) == "delivered"


def test_a_time_ordered_id_stays_one_and_each_copy_is_older_than_the_last():
    made = "019adf3c-1f2a-7b3c-8d4e-5f6a7b8c9d0e"
    copies = [remapped(made, copy) for copy in (1, 2, 3)]
    assert all(isinstance(c, str) and c[14] == "7" and c[19] == "8" for c in copies)
    assert made > copies[0] > copies[1] > copies[2]
    assert remapped(made, 1) == copies[0]
    assert int(made[:8], 16) - int(str(copies[0])[:8], 16) < 2**16  # minutes, not years


def test_stores_grow_with_their_rows_still_pointing_at_each_other(tmp_path: Path):
    _store(
        tmp_path / "cases.db",
        "CREATE TABLE cases (id VARCHAR(36) PRIMARY KEY, dedup_key VARCHAR(64), province VARCHAR)",
        "INSERT INTO cases VALUES ('6ac47088-8c8c-4b2d-b033-512047a661b5', "
        "'d7600cdfc242d46237bcb495b898cd076343f7a0d5bdb8f3887ca80150f69aab', '01')",
        "CREATE TABLE stage_history (id INTEGER PRIMARY KEY, case_id VARCHAR(36))",
        "INSERT INTO stage_history (case_id) VALUES ('6ac47088-8c8c-4b2d-b033-512047a661b5')",
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY, event_id VARCHAR(64) UNIQUE, "
        "published_at DATETIME)",
        "INSERT INTO outbox VALUES (1, 'b1a9f1c2-3d4e-4f50-8a6b-7c8d9e0f1a2b', '2026-12-01'),"
        " (2, 'c2b0a1d3-4e5f-4061-9b7c-8d9e0f1a2b3c', NULL)",
    )
    _store(
        tmp_path / "notifications.db",
        "CREATE TABLE officers (id VARCHAR PRIMARY KEY)",
        "INSERT INTO officers VALUES ('police-hn-1')",
        "CREATE TABLE notifications (id VARCHAR(36) PRIMARY KEY, case_id VARCHAR(36), "
        "status VARCHAR)",
        "INSERT INTO notifications VALUES ('e3c1b2a4-5f60-4172-8c8d-9e0f1a2b3c4d', "
        "'6ac47088-8c8c-4b2d-b033-512047a661b5', 'delivered')",
    )
    assert unfinished_rows(tmp_path) == 1  # the pending outbox row

    sizes = grow_stores(tmp_path, cases=5)

    assert sizes["cases"] == {"cases": 5, "stage_history": 5, "outbox": 6}
    assert sizes["notifications"] == {"notifications": 5}
    with closing(sqlite3.connect(tmp_path / "cases.db")) as db:
        cases = {row[0] for row in db.execute("SELECT id FROM cases")}
        keys = {row[0] for row in db.execute("SELECT dedup_key FROM cases")}
        history = {row[0] for row in db.execute("SELECT case_id FROM stage_history")}
        pending = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    with closing(sqlite3.connect(tmp_path / "notifications.db")) as db:
        told = {row[0] for row in db.execute("SELECT case_id FROM notifications")}
        officers = db.execute("SELECT count(*) FROM officers").fetchone()
    assert len(cases) == len(keys) == 5  # five different children
    assert history == told == cases  # every copy's rows point at its own copy of the case
    assert pending == (1,)  # unfinished work is never copied
    assert officers == (1,)  # nor the directory
