"""Rows a consumer's batch reads, changes and writes back, held as values for its transaction.

A projection a handler keeps up to date (a fact per case, a referral's state) is read,
changed and saved once an event. As ORM objects, their instrumentation, the session's
bookkeeping and the flush cost a worker more than the handlers themselves. Here a row is a
`chassis.rows.KeptRow`, saved as an upsert of the columns it changed (`chassis.upsert`),
which a batch's unit of work writes with the others at its end.

A batch (`UnitOfWork.batch_outbox`) holds every row it read or saved for the rest of its
transaction, so a later event of the batch sees what an earlier one saved though nothing
is written yet; `preload_rows` reads a whole batch's rows first, one query a table. An event
applied alone (the consumer's per-event fallback, under a savepoint) reads from the
database each time, so a rolled-back savepoint leaves nothing behind. The rows are held in
`session.info`, which a transaction's new session starts empty (`chassis.db.transaction`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from sqlmodel import Session, SQLModel

from chassis.rows import read_rows
from chassis.unit_of_work import UnitOfWork

ModelT = TypeVar("ModelT", bound=SQLModel)
Held = dict[tuple[type[SQLModel], Any], Any]  # (model, key) → the row, or None if there is none

_HELD = "chassis.held_rows"


def preload_rows(session: Session, wanted: Iterable[tuple[type[SQLModel], Any]]) -> Held:
    """Read the rows named by `(model, key)` not held yet, one query a model, and hold them
    (missing ones as None) for the rest of the transaction; returns everything held."""
    held: Held = session.info.setdefault(_HELD, {})
    keys: dict[type[SQLModel], set[Any]] = {}
    for model, key in wanted:
        if (model, key) not in held:
            keys.setdefault(model, set()).add(key)
    for model, model_keys in keys.items():
        found = read_rows(session, model, model_keys)
        held.update(((model, key), found.get(key)) for key in model_keys)
    return held


def held_row(uow: UnitOfWork, model: type[ModelT], key: Any) -> ModelT | None:
    """The row of `model` with this primary key, or None: the batch's own if it holds one."""
    session = uow.session
    held: Held | None = session.info.get(_HELD)
    if held is None and uow.batch_outbox:  # a batch: its saves wait for its end
        held = session.info[_HELD] = {}
    if held is not None and (model, key) in held:
        return cast(ModelT | None, held[model, key])
    row = read_rows(session, model, [key]).get(key)
    if held is not None:
        held[model, key] = row
    return row


def save_held(uow: UnitOfWork, model: type[ModelT], key: Any, row: ModelT) -> None:
    """Save a row `held_row` returned (changed) or `kept_row` made: upserted, and held."""
    held: Held | None = uow.session.info.get(_HELD)
    if held is not None:
        held[model, key] = row
    uow.upsert(row)
