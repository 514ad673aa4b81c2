"""The worker process's Faust app as the composition roots build it."""

from __future__ import annotations

from pathlib import Path

from chassis.db import create_db_engine
from chassis.worker import WorkerSpec, build_worker_app


def test_ops_pages_listen_on_loopback_unless_told_otherwise(tmp_path: Path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    spec = WorkerSpec(
        service="t",
        group_id="lienganh-t",
        bootstrap_servers="127.0.0.1:9",
        data_dir=tmp_path,
        engine=engine,
        processors={},
        relay_outbox=False,
    )
    app = build_worker_app(spec)
    # Faust binds `web_bind` (0.0.0.0 by default), whatever `web_host` says.
    assert (app.conf.web_bind, app.conf.web_host) == ("127.0.0.1", "127.0.0.1")
    everywhere = "0.0.0.0"  # noqa: S104 - what a container sets on purpose
    container = build_worker_app(
        WorkerSpec(**{**spec.__dict__, "web_host": everywhere, "group_id": "lienganh-t2"})
    )
    assert container.conf.web_bind == everywhere
