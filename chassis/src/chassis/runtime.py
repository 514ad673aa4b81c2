"""Pieces every composition root assembles: the database and the token verifier."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis.auth import TokenVerifier
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.outbox import OutboxEvent
from chassis.settings import ServiceSettings


def open_database(
    settings: ServiceSettings, database_name: str, tables: Sequence[type[SQLModel]]
) -> Engine:
    """The service's own database, with its tables plus the outbox and inbox."""
    engine = create_db_engine(settings.database_url_for(database_name))
    create_tables(engine, [*tables, OutboxEvent, ProcessedEvent])
    return engine


def load_token_verifier(settings: ServiceSettings) -> TokenVerifier:
    path = settings.public_key_path()
    if not path.exists():
        raise FileNotFoundError(
            f"no JWT public key at {path}: set {settings.model_config.get('env_prefix')}"
            "JWT_PUBLIC_KEY_FILE, or run `lienganh token` once to create the local issuer's keys"
        )
    return TokenVerifier(
        path.read_bytes(), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
