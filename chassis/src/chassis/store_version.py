"""Which revision a service's store is at and which is its newest, without importing Alembic.

Every API and worker start brings its store to the newest revision. Almost always it is
there already, and finding that out through Alembic cost each long-lived process ~9 MiB of
imports it never used again (16 processes locally, ~150 MiB) and part of its start after a
crash. Here the newest revision is read from the revision files themselves (their
`revision` / `down_revision` assignments; a test holds it to Alembic's own answer) and the
store's from its version table. Only a store behind loads Alembic (`chassis.migrations`).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from sqlalchemy import String, column, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import SQLModel


def package_of(tables: Sequence[type[SQLModel]]) -> str:
    """The service that owns these tables (the chassis's outbox and inbox belong to all)."""
    owners = {model.__module__.partition(".")[0] for model in tables} - {"chassis"}
    if len(owners) != 1:
        raise ValueError(f"tables of one service expected, got those of {sorted(owners)}")
    return owners.pop()


def version_table(package: str) -> str:
    return f"alembic_version_{package}"


def versions_dir(package: str) -> Path:
    spec = importlib.util.find_spec(f"{package}.migrations")  # imports `package` only
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"{package} has no migrations package ({package}/migrations/)")
    return Path(spec.submodule_search_locations[0]) / "versions"


@cache
def declared_head(package: str) -> str | None:
    """The one revision no other revision of `package` comes after (None: no revisions)."""
    revisions: dict[str, str | None] = {}
    for script in sorted(versions_dir(package).glob("*.py")):
        assigned = _string_assignments(script)
        revision = assigned.get("revision")
        if revision is not None:
            revisions[revision] = assigned.get("down_revision")
    heads = set(revisions) - set(revisions.values())
    if len(heads) > 1:
        raise LookupError(f"{package} has several head revisions: {sorted(heads)}")
    return heads.pop() if heads else None


def stored_revision(engine: Engine, package: str) -> str | None:
    """The revision the store says it is at (None: never migrated, or no version table)."""
    query = select(column("version_num", String)).select_from(table(version_table(package)))
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).scalars().all()
    except (OperationalError, ProgrammingError):  # no version table yet
        return None
    return rows[0] if len(rows) == 1 else None


def is_current(engine: Engine, tables: Sequence[type[SQLModel]]) -> bool:
    package = package_of(tables)
    head = declared_head(package)
    return head is not None and stored_revision(engine, package) == head


def _string_assignments(script: Path) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Constant)
            and (value.value is None or isinstance(value.value, str))
        ):
            found[target.id] = value.value
    return found
