"""A service's store changes only through Alembic revisions, applied when its processes start.

Each service keeps its revisions in `<service>/migrations/versions/` (`0001_baseline.py`,
`0002_….py`, …; how to add one: docs/migrations.md) and its version in its own table,
`alembic_version_<service>`. This module is the one runner: `upgrade` (every API and worker
start through `runtime.open_service`, `python -m <service> migrate`, `lienganh migrate`), the
options of the Alembic environment every service shares (`migration_env/env.py`), and
`new_revision` for developers.

Adoption. A store made before migrations existed (`create_all` at every start) has the
service's tables and no version table. The baseline creates exactly what that release
created, so such a store is stamped with the baseline and upgraded from there; an empty
store is upgraded from nothing.

Concurrency. The API and the worker of a service start together and both upgrade. The whole
upgrade, adoption included, is one transaction that first takes the store's write lock:
PostgreSQL `pg_advisory_xact_lock` on a key of the version table's name, SQLite
`BEGIN IMMEDIATE` (its single writer lock; `busy_timeout` makes the other process wait).
Both databases run DDL inside transactions, so the process that waited finds the first one's
work committed whole, or none of it, and has nothing left to do. A revision must therefore
run inside a transaction (no `CREATE INDEX CONCURRENTLY`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, String, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from chassis.db import transaction
from chassis.store_version import package_of, version_table, versions_dir

logger = logging.getLogger(__name__)

_ENVIRONMENT = Path(__file__).with_name("migration_env")  # env.py and the revision template


def metadata_of(tables: Sequence[type[SQLModel]]) -> MetaData:
    """The declared schema of one store: these tables alone (`SQLModel.metadata` holds every
    table imported in the process, other services' too)."""
    metadata = MetaData()
    for model in tables:
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    return metadata


def alembic_config(
    tables: Sequence[type[SQLModel]], connection: Connection | None, *, package: str | None = None
) -> Config:
    """Alembic's configuration for the store of `tables`, built here: no alembic.ini."""
    package = package or package_of(tables)
    config = Config()
    config.set_main_option("script_location", str(_ENVIRONMENT))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions_dir(package)))
    config.attributes.update(
        connection=connection, metadata=metadata_of(tables), version_table=version_table(package)
    )
    return config


def environment_options(config: Config) -> dict[str, Any]:
    """What `migration_env/env.py` passes to `context.configure`, for every service."""
    return {
        "connection": config.attributes["connection"],
        "target_metadata": config.attributes["metadata"],
        "version_table": config.attributes["version_table"],
        # SQLite cannot alter most of a table: batch mode copies it into a new one instead.
        "render_as_batch": True,
        "compare_type": True,
        "render_item": _render_portable_type,
    }


def _render_portable_type(kind: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    # A revision is frozen history: it spells the column types the database gets (String,
    # DateTime(timezone=True)), never the application's wrappers (SQLModel's AutoString,
    # chassis.timestamps.UtcDateTime) that may change or go later.
    if kind != "type" or not isinstance(obj, TypeDecorator):
        return False
    impl = obj.impl_instance
    if isinstance(impl, String) and not impl.length:
        return "sa.String()"
    return f"sa.{impl!r}"


def upgrade(engine: Engine, tables: Sequence[type[SQLModel]]) -> None:
    """Bring the store holding `tables` (a service's own, plus outbox and inbox) to its
    service's newest revision. A store already there costs one read."""
    package = package_of(tables)
    with _write_locked(engine, version_table(package)) as connection:
        current = _migration_context(connection, package).get_current_revision()
        if current is not None and current == _revisions(package).get_current_head():
            return
        config = alembic_config(tables, connection)
        if current is None and _holds_tables(connection, config.attributes["metadata"]):
            baseline = _revisions(package).get_base()
            assert baseline is not None, f"{package} has no baseline revision"
            logger.info("adopting a store made before migrations at revision %s", baseline)
            command.stamp(config, baseline)
        command.upgrade(config, "head")


def current_revision(engine: Engine, tables: Sequence[type[SQLModel]]) -> str | None:
    """The revision the store is at (None: never migrated)."""
    with engine.connect() as connection:
        return _migration_context(connection, package_of(tables)).get_current_revision()


def head_revision(tables: Sequence[type[SQLModel]]) -> str | None:
    return _revisions(package_of(tables)).get_current_head()


def _migration_context(connection: Connection, package: str) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"version_table": version_table(package)})


@cache
def _revisions(package: str) -> ScriptDirectory:
    # Read once per process: the revisions shipped with the code do not change under it.
    return ScriptDirectory.from_config(alembic_config([], None, package=package))


@contextmanager
def _write_locked(engine: Engine, name: str) -> Iterator[Connection]:
    # One transaction holding the store's write lock (see the module docstring). On SQLite,
    # `transaction` begins IMMEDIATE; on PostgreSQL every migrating process takes the same
    # advisory lock, held until the transaction ends.
    with transaction(engine) as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield connection


def _holds_tables(connection: Connection, own: MetaData) -> bool:
    inspector = inspect(connection)
    return any(inspector.has_table(name) for name in own.tables)


def new_revision(
    tables: Sequence[type[SQLModel]], message: str, database_url: str | None = None
) -> Path:
    """Write the next revision of the service of `tables`: what differs between the store at
    head and the models now, autogenerated for review. Against a scratch SQLite store unless
    `database_url` names one (at head) to compare with."""
    from chassis.db import create_db_engine

    if database_url is None:
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix="lienganh-revision-"))
        database_url = f"sqlite:///{scratch / 'store.db'}"
    engine = create_db_engine(database_url)
    try:
        upgrade(engine, tables)
        with engine.begin() as connection:
            config = alembic_config(tables, connection)
            _format_with_ruff(config)
            head = ScriptDirectory.from_config(config).get_current_head()
            number = int(head) + 1 if head else 1
            script = command.revision(config, message, autogenerate=True, rev_id=f"{number:04d}")
    finally:
        engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def _format_with_ruff(config: Config) -> None:
    # The revision comes out as the repository's style wants it (`ruff` of this virtualenv).
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return
    hooks = {"fix": "check --fix --quiet", "format": "format --quiet"}
    config.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
    for name, options in hooks.items():
        config.set_section_option("post_write_hooks", f"{name}.type", "exec")
        config.set_section_option("post_write_hooks", f"{name}.executable", ruff)
        config.set_section_option(
            "post_write_hooks", f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m chassis.migrations new <service> "<message>"` (docs/migrations.md)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m chassis.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="autogenerate the next revision of a service's store")
    new.add_argument("service", help="the service's package: cases, referrals, agencies, …")
    new.add_argument("message", help="what the revision does, in a few words")
    new.add_argument("--database-url", help="compare with this store (at head) instead")
    args = parser.parse_args(argv)
    tables = importlib.import_module(f"{args.service}.migrations").TABLES
    path = new_revision(tables, args.message, args.database_url)
    print(f"wrote {path}: review it, then test it (docs/migrations.md)")


if __name__ == "__main__":
    main()
