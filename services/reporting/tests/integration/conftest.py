"""Fixtures of the reporting integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.reporting.tests.store import Store, open_store


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Store:
    return open_store(database_url, tmp_path)
