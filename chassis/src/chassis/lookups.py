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
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

T = TypeVar("T")

_PENDING = "chassis.lookups.pending"  # session.info: {(model, key): row added, unflushed}


def get_unflushed(session: Session, model: type[T], key: Any) -> T | None:
    """`session.get(model, key)` that never flushes: the same answer, since a row this
    transaction added under `key` is found among the unflushed ones first."""
    identity = key if isinstance(key, tuple) else (key,)
    pending = session.info.get(_PENDING, {}).get((model, identity))
    if pending is not None:
        found: T = pending
        return found
    with session.no_autoflush:
        return session.get(model, key)


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


@event.listens_for(Session, "pending_to_persistent")
@event.listens_for(Session, "pending_to_transient")
def _flushed_or_dropped(session: Session, instance: object) -> None:
    key = _key(instance)
    pending = session.info.get(_PENDING)
    if key is not None and pending is not None and pending.get(key) is instance:
        del pending[key]
