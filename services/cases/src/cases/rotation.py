"""Key rotation of identity columns, while the service runs.

A new key is added to the keyring and made active (old keys stay, so every token still
opens); running processes pick it up from the file (`LiveKeyring`). Rows are then re-sealed
in small batches, each its own short transaction, so intake and reads are never held up.
Interrupted, it simply resumes: the rows still under an old key are what is left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from cases.adapters import identity
from cases.adapters.keyring import LiveKeyring
from cases.adapters.tables import SEALED_COLUMNS, CaseRecord
from chassis.crypto import add_key
from chassis.db import transaction


@dataclass(frozen=True)
class RotationReport:
    key_id: str
    rows_resealed: int


def _under_old_keys(active_key_id: str) -> ColumnElement[bool]:
    prefix = f"{active_key_id}:"
    columns = [getattr(CaseRecord, column) for column in SEALED_COLUMNS]
    return or_(*(and_(c.is_not(None), c != "", ~c.startswith(prefix)) for c in columns))


def rows_to_rotate(engine: Engine, active_key_id: str) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(CaseRecord).where(_under_old_keys(active_key_id))
        return int(session.exec(query).one())


def rotate_identity_keys(
    engine: Engine,
    keyring_path: Path,
    *,
    batch_size: int = 100,
    new_key: bool = True,
    on_batch: Callable[[int], None] = lambda done: None,
) -> RotationReport:
    """Add a key (unless resuming) and re-seal every row under it; returns the count."""
    if new_key:
        add_key(keyring_path)
    keyring = LiveKeyring(keyring_path)
    active = keyring.active_key_id
    done = 0
    while True:
        with transaction(engine) as session:
            rows = session.exec(
                select(CaseRecord)
                .where(_under_old_keys(active))
                .order_by(col(CaseRecord.id))
                .limit(batch_size)
            ).all()
            for record in rows:
                identity.reseal(keyring, record)
                session.add(record)
        if not rows:
            return RotationReport(key_id=active, rows_resealed=done)
        done += len(rows)
        on_batch(len(rows))
