"""The cases API on a real database (SQLite and PostgreSQL), called over HTTP in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cases.bootstrap import create_api
from cases.config import CasesSettings
from chassis.auth import LocalIssuer
from services.cases.tests.support import CasesApi


@pytest.fixture
def cases_api(database_url: str, tmp_path: Path) -> Iterator[CasesApi]:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()  # writes the public key the service verifies with
    settings = CasesSettings(data_dir=tmp_path, database_url=database_url)
    app = create_api(settings)
    with TestClient(app) as client:
        yield CasesApi(client, issuer, app.state.service_context.engine, settings)
