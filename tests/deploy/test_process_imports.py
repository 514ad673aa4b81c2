"""Each process imports only its own stack: an API never loads Faust, a worker never loads
FastAPI (~10 MiB less per process, a faster start after a crash; `chassis.runtime`), and
none loads the terminal stack (rich, ~6 MiB; `chassis.entrypoint`) or, unless it calls out,
httpx (~4 MiB).

Every process of `make run` is built as its entry point builds it (its module's
`create_api` / `create_worker`, with the environment the supervisor gives it), in a fresh
interpreter, which then says which stacks it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chassis.auth import LocalIssuer
from localrun.supervisor import ProcessSpec
from localrun.system import Ports, migrate_stores, system_processes

# As `chassis.entrypoint.main` does: no terminal stack (rich) in a service process.
PROBE = """
import importlib, json, sys
from chassis.entrypoint import without_terminal_rendering
without_terminal_rendering()
module, kind = sys.argv[1], sys.argv[2]
getattr(importlib.import_module(module + ".bootstrap"), "create_" + kind)()
stacks = ("faust", "fastapi", "alembic", "rich", "httpx")
print(json.dumps(sorted(k for k in stacks if sys.modules.get(k) is not None)))
"""
AGENCIES = ("police",)
# Services that make HTTP calls (the inbox's actions, webhooks, view keys): only their
# processes load httpx; the tracing instruments it when it is imported (`chassis.tracing`).
CALLING_OUT = {"notifications", "agencies"}


def _specs(data_dir: Path) -> list[ProcessSpec]:
    LocalIssuer(data_dir / "keys").public_key_pem()
    return system_processes(
        data_dir=data_dir,
        bootstrap_servers="127.0.0.1:9",  # never reached: building an app does not connect
        ports=Ports.free(AGENCIES),
        agencies=AGENCIES,
    )


def _processes(data_dir: Path) -> list[tuple[str, str, str, dict[str, str]]]:
    specs = _specs(data_dir)
    return [
        (spec.name, spec.argv[2], spec.argv[3], dict(spec.env))
        for spec in specs
        if spec.argv[1:2] == ["-m"] and spec.argv[3:4] in (["api"], ["worker"])
    ]


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_each_process_loads_only_its_own_stack(tmp_path: Path, kind: str) -> None:
    processes = [p for p in _processes(tmp_path) if p[2] == kind]
    assert len(processes) == 5  # cases, referrals, notifications, reporting, one agency
    for name, module, _, env in processes:
        built = _build(module, kind, env)
        assert built.returncode == 0, f"{name}: {built.stderr[-2000:]}"
        stacks = [k for k in _loaded(built.stdout) if k != "alembic"]
        own = ["fastapi"] if kind == "api" else ["faust"]
        assert stacks == own + (["httpx"] if module in CALLING_OUT else []), name


def test_a_process_whose_store_is_current_does_not_load_alembic(tmp_path: Path) -> None:
    """The first start migrates the fresh store (Alembic); a restart finds it at head by one
    read (`chassis.store_version`) and never imports Alembic (~9 MiB per process)."""
    name, module, kind, env = next(p for p in _processes(tmp_path) if p[0] == "cases-worker")
    starts = [_build(module, kind, env) for _ in range(2)]
    assert all(start.returncode == 0 for start in starts), starts[-1].stderr[-2000:]
    assert "alembic" in _loaded(starts[0].stdout), f"{name}: the fresh store was not migrated"
    assert "alembic" not in _loaded(starts[1].stdout), name


def test_no_process_loads_alembic_when_its_store_was_migrated_ahead(tmp_path: Path) -> None:
    """`make run` and the tests' systems migrate each instance's store before its processes
    start (`localrun.system.migrate_stores`): on a first start too, none of them loads
    Alembic, which a process would otherwise keep for its whole life."""
    migrate_stores(_specs(tmp_path))
    for name, module, kind, env in _processes(tmp_path):
        built = _build(module, kind, env)
        assert built.returncode == 0, f"{name}: {built.stderr[-2000:]}"
        assert "alembic" not in _loaded(built.stdout), name


def _build(module: str, kind: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, module, kind],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _loaded(stdout: str) -> list[str]:
    loaded: list[str] = json.loads(stdout.strip().splitlines()[-1])
    return loaded
