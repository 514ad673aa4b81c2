"""The officers directory in the database, seeded once from a YAML file."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from chassis.db import transaction
from notifications.adapters.tables import OfficerRow
from notifications.domain.recipients import Directory, Officer
from notifications.domain.rules import Rules


def default_directory_path() -> Path:
    return Path(str(resources.files("notifications.directory").joinpath("recipients.seed.yaml")))


def default_rules_path() -> Path:
    return Path(str(resources.files("notifications.directory").joinpath("rules.v1.yaml")))


def load_directory(path: Path) -> Directory:
    return Directory.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def load_rules(path: Path) -> Rules:
    return Rules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def to_officer(row: OfficerRow) -> Officer:
    return Officer.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "agency": row.agency,
            "role": row.role,
            "provinces": row.provinces,
            "language": row.language,
            "channels": row.channels,
        }
    )


def to_row(officer: Officer, now: datetime) -> OfficerRow:
    data = officer.model_dump(mode="json")
    return OfficerRow(**data, updated_at=now)


def seed_directory(engine: Engine, directory: Directory) -> int:
    """Load the seed into an empty directory; an administered directory is left alone."""
    with Session(engine) as session:
        if session.exec(select(OfficerRow.id).limit(1)).first() is not None:
            return 0
    now = datetime.now(UTC)
    try:
        with transaction(engine) as session:
            for officer in directory.officers:
                session.add(to_row(officer, now))
    except IntegrityError:
        return 0  # the API and the worker started together; the other one seeded it
    return len(directory.officers)


def all_officers(session: Session) -> list[Officer]:
    rows = session.exec(select(OfficerRow).order_by(col(OfficerRow.id)))
    return [to_officer(row) for row in rows]
