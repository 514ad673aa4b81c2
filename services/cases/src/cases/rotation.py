"""Key rotation while the service runs: re-wrap each case's data key under a new key.

Envelope encryption makes this cheap: the identity values stay sealed under their case's data
key and only the small wrapped keys change. A new key is added to the keyring and made active
(old keys stay, so every wrapped key still opens); running processes pick it up from the file
(`LiveKeyring`). Data keys are then re-wrapped in small batches, each its own short
transaction, so intake and reads are never held up. Cases stored before per-case keys get
one here, their columns re-sealed under it. Interrupted, it simply resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, and_, exists
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from cases.adapters import identity
from cases.adapters.keyring import LiveKeyring
from cases.adapters.tables import CaseDataKey, CaseRecord
from chassis.crypto import add_key
from chassis.db import transaction


@dataclass(frozen=True)
class RotationReport:
    key_id: str
    keys_rewrapped: int
    cases_moved_to_own_key: int


def _wrapped_under_old_keys(active_key_id: str) -> ColumnElement[bool]:
    wrapped = col(CaseDataKey.wrapped_key)
    return and_(wrapped.is_not(None), ~wrapped.startswith(f"{active_key_id}:"))


def _without_own_key() -> ColumnElement[bool]:
    has_key = exists().where(col(CaseDataKey.case_id) == col(CaseRecord.id))
    return and_(~has_key, col(CaseRecord.identity_erased_at).is_(None))


def rows_to_rotate(engine: Engine, active_key_id: str) -> int:
    with Session(engine) as session:
        keys = select(func.count()).select_from(CaseDataKey)
        legacy = select(func.count()).select_from(CaseRecord).where(_without_own_key())
        return int(session.exec(keys.where(_wrapped_under_old_keys(active_key_id))).one()) + int(
            session.exec(legacy).one()
        )


def rotate_identity_keys(
    engine: Engine,
    keyring_path: Path,
    *,
    batch_size: int = 100,
    new_key: bool = True,
    on_batch: Callable[[int], None] = lambda done: None,
) -> RotationReport:
    """Add a key (unless resuming) and re-wrap every data key under it; returns the counts."""
    if new_key:
        add_key(keyring_path)
    keyring = LiveKeyring(keyring_path)
    active = keyring.active_key_id
    rewrapped = _in_batches(
        engine, batch_size, on_batch, lambda s: _rewrap(s, keyring, active, batch_size)
    )
    moved = _in_batches(engine, batch_size, on_batch, lambda s: _own_keys(s, keyring, batch_size))
    return RotationReport(key_id=active, keys_rewrapped=rewrapped, cases_moved_to_own_key=moved)


def _in_batches(
    engine: Engine,
    batch_size: int,
    on_batch: Callable[[int], None],
    step: Callable[[Session], int],
) -> int:
    done = 0
    while True:
        with transaction(engine) as session:
            count = step(session)
        if not count:
            return done
        done += count
        on_batch(count)


def _rewrap(session: Session, keyring: LiveKeyring, active: str, limit: int) -> int:
    rows = session.exec(
        select(CaseDataKey)
        .where(_wrapped_under_old_keys(active))
        .order_by(col(CaseDataKey.case_id))
        .limit(limit)
    ).all()
    for row in rows:
        identity.rewrap(keyring, row)
        session.add(row)
    return len(rows)


def _own_keys(session: Session, keyring: LiveKeyring, limit: int) -> int:
    rows = session.exec(
        select(CaseRecord).where(_without_own_key()).order_by(col(CaseRecord.id)).limit(limit)
    ).all()
    now = datetime.now(UTC)
    for record in rows:
        identity.reseal_legacy(session, keyring, record, now)
        session.add(record)
    return len(rows)
