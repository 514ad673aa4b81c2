"""A worker's ops endpoints listen where its settings say: 0.0.0.0 in a container."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.db import create_db_engine
from chassis.runtime import worker_app
from chassis.settings import ServiceSettings

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what a container needs, the point of the test


def _worker_web_host(settings: ServiceSettings) -> str:
    engine = create_db_engine(f"sqlite:///{settings.data_dir / 'w.db'}")
    # A consumer the contracts give no topic: an empty handler map matches them.
    app = worker_app(settings, service="sample", consumer="nobody", engine=engine, subscriptions={})
    # Faust listens on `web_bind` (0.0.0.0 by default), whatever `web_host` says.
    assert app.conf.web_bind == app.conf.web_host
    host: str = app.conf.web_bind
    return host


def test_the_worker_listens_on_loopback_by_default(tmp_path: Path) -> None:
    assert _worker_web_host(ServiceSettings(data_dir=tmp_path)) == "127.0.0.1"


def test_a_container_sets_the_worker_host_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENGANH_WORKER_WEB_HOST", ALL_INTERFACES)
    assert _worker_web_host(ServiceSettings(data_dir=tmp_path)) == ALL_INTERFACES
