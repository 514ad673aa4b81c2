"""Primary-key lookups inside a batch's transaction, without flushing it.

A consumer applies a whole batch in one transaction. `Session.get` of a row not yet loaded
autoflushes first, so each event's lookup wrote the previous event's rows as their own small
INSERTs: 20-27 % of the referrals and reporting workers' CPU under load (py-spy). Here a
lookup first finds a row this transaction added and has not flushed, by its key, and
otherwise asks the identity map and the database without flushing. The rows then go out
once, at commit, as multi-row INSERTs.

The rows added are tracked through SQLAlchemy's own session events, so a rolled-back
savepoint (the consumer's per-event fallback) or an expunge forgets what it added, and a
flush hands them over to the identity map.

`preload` reads the rows a whole batch will look up in one query: those found wait in the
identity map, those missing are remembered as missing (most lookups are of rows a new event
is about to create), so each event's lookup then asks nothing of the database. Without it,
one `SELECT` an event was 20-25 % of the cases and reporting workers' CPU under load.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Column, Select, event, inspect, select
from sqlalchemy.orm import Session

T = TypeVar("T")

_PENDING = "chassis.lookups.pending"  # session.info: {(model, key): row added, unflushed}
_MISSING = "chassis.lookups.missing"  # session.info: {(model, key)} preloaded and not found
_LOADED = "chassis.lookups.loaded"  # session.info: preloaded rows, held (the map is weak)
_CHUNK = 500  # keys a query, well under any database's limit on bound parameters


def get_unflushed(session: Session, model: type[T], key: Any) -> T | None:
    """`session.get(model, key)` that never flushes: the same answer, since a row this
    transaction added under `key` is found among the unflushed ones first."""
    identity = key if isinstance(key, tuple) else (key,)
    pending = session.info.get(_PENDING, {}).get((model, identity))
    if pending is not None:
        found: T = pending
        return found
    if (model, identity) in session.info.get(_MISSING, ()):
        return None
    with session.no_autoflush:
        return session.get(model, key)


def preload(session: Session, rows: Iterable[tuple[type, Any]]) -> None:
    """Read the rows named by `(model, key)` (a model with a one-column primary key) in one
    query a model, so `get_unflushed` of any of them, for the rest of the transaction, asks
    nothing of the database. Only for rows the transaction writes through the session: one
    inserted by a Core statement meanwhile would still be taken for missing."""
    wanted: dict[type, set[Any]] = {}
    pending = session.info.get(_PENDING, {})
    for model, key in rows:
        if (model, (key,)) not in pending:
            wanted.setdefault(model, set()).add(key)
    missing: set[tuple[type, tuple[Any, ...]]] = session.info.setdefault(_MISSING, set())
    loaded: list[object] = session.info.setdefault(_LOADED, [])
    with session.no_autoflush:
        for model, keys in wanted.items():
            column: Column[Any] = inspect(model).primary_key[0]
            remaining = iter(keys)
            while chunk := set(islice(remaining, _CHUNK)):
                query: Select[Any] = select(model).where(column.in_(chunk))
                found: Sequence[Any] = session.execute(query).scalars().all()
                loaded.extend(found)
                present = {getattr(row, column.key) for row in found}
                missing.update((model, (key,)) for key in chunk - present)


def delete_unflushed(session: Session, row: object) -> None:
    """`session.delete(row)` for a row `get_unflushed` returned: one added and not flushed
    yet is simply dropped (SQLAlchemy refuses to delete a row it never wrote)."""
    if inspect(row).pending:
        session.expunge(row)
    else:
        session.delete(row)


def _key(instance: object) -> tuple[type, tuple[Any, ...]] | None:
    identity = tuple(inspect(type(instance)).primary_key_from_instance(instance))
    return None if any(part is None for part in identity) else (type(instance), identity)


@event.listens_for(Session, "transient_to_pending")
def _added(session: Session, instance: object) -> None:
    key = _key(instance)
    if key is not None:
        session.info.setdefault(_PENDING, {})[key] = instance
        session.info.get(_MISSING, set()).discard(key)


@event.listens_for(Session, "after_transaction_end")
def _forget_preloaded(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_MISSING, None)
        session.info.pop(_LOADED, None)


@event.listens_for(Session, "pending_to_persistent")
@event.listens_for(Session, "pending_to_transient")
def _flushed_or_dropped(session: Session, instance: object) -> None:
    key = _key(instance)
    pending = session.info.get(_PENDING)
    if key is not None and pending is not None and pending.get(key) is instance:
        del pending[key]
