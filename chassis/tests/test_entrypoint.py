"""`python -m <service> api|worker|all`: a service process runs without the terminal stack.

Each check runs in a fresh interpreter: what a process has imported cannot be undone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FAKE_BOOTSTRAP = """
import json, sys

import httpx, structlog  # what a composition root loads


def create_api():
    loaded = {name: sys.modules.get(name) is not None for name in ("rich", "pygments")}
    print(json.dumps({"loaded": loaded, "httpx_client": hasattr(httpx, "Client")}))
    raise SystemExit(0)  # the probe ends here instead of serving


create_worker = create_api
"""


def _run(code: str, *, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_shared_environment_holds_the_terminal_stack() -> None:
    """Else the next test proves nothing: the CLI's rich is what a service must not load."""
    probe = _run("import sys, httpx, structlog; print('rich' in sys.modules)")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "True"


def test_a_service_process_loads_its_composition_root_without_rich(tmp_path: Path) -> None:
    package = tmp_path / "probe_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bootstrap.py").write_text(FAKE_BOOTSTRAP)
    for process in ("api", "worker", "all"):
        probe = _run(
            f"from chassis.entrypoint import main; main('probe_service', ['{process}'])",
            path=tmp_path,
        )
        assert probe.returncode == 0, probe.stderr
        answer = json.loads(probe.stdout.strip().splitlines()[-1])
        assert answer == {"loaded": {"rich": False, "pygments": False}, "httpx_client": True}


def test_without_rich_a_logged_exception_still_carries_its_traceback() -> None:
    code = """
from chassis.entrypoint import without_terminal_rendering
without_terminal_rendering()
from chassis.logs import configure_logging, get_logger
configure_logging("probe")
try:
    raise ValueError("boom")
except ValueError:
    get_logger("probe").exception("failed")
"""
    probe = _run(code)
    assert probe.returncode == 0, probe.stderr
    [line] = [json.loads(line) for line in probe.stderr.splitlines() if line.startswith("{")]
    assert line["event"] == "failed"
    assert "ValueError: boom" in line["exception"]
    assert "Traceback" in line["exception"]


LOOP_BOOTSTRAP = """
import asyncio, json, threading


def create_api():
    async def running():
        return type(asyncio.get_running_loop()).__module__

    in_thread = []
    thread = threading.Thread(target=lambda: in_thread.append(asyncio.run(running())))
    thread.start()
    thread.join()
    print(json.dumps({"main": asyncio.run(running()), "thread": in_thread[0]}))
    raise SystemExit(0)


create_worker = create_api
"""


def test_a_service_process_runs_its_event_loops_on_uvloop(tmp_path: Path) -> None:
    """Faust's consumer thread and the outbox relay make their loops in threads of their own:
    every loop of the process, not only the main one."""
    package = tmp_path / "loop_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bootstrap.py").write_text(LOOP_BOOTSTRAP)
    for process in ("api", "worker", "all"):
        probe = _run(
            f"from chassis.entrypoint import main; main('loop_service', ['{process}'])",
            path=tmp_path,
        )
        assert probe.returncode == 0, probe.stderr
        loops = json.loads(probe.stdout.strip().splitlines()[-1])
        assert loops == {"main": "uvloop", "thread": "uvloop"}


METRICS_BOOTSTRAP = """
import json

from chassis.metrics import EVENTS_CONSUMED, worker_exposition


def create_api():
    EVENTS_CONSUMED.labels("probe", "t", "e", "processed").inc()
    print(json.dumps({"worker_metrics": worker_exposition().decode()}))
    raise SystemExit(0)


create_worker = create_api
"""


def test_a_process_running_both_counts_each_metric_on_one_endpoint_only(tmp_path: Path) -> None:
    """Prometheus scrapes a combined process's API and worker ports (the same configuration
    as two processes): the worker's /metrics then exposes nothing, the API's everything."""
    from prometheus_client.parser import text_string_to_metric_families

    package = tmp_path / "metrics_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bootstrap.py").write_text(METRICS_BOOTSTRAP)
    exposed = {}
    for process in ("worker", "all"):
        probe = _run(
            f"from chassis.entrypoint import main; main('metrics_service', ['{process}'])",
            path=tmp_path,
        )
        assert probe.returncode == 0, probe.stderr
        text = json.loads(probe.stdout.strip().splitlines()[-1])["worker_metrics"]
        exposed[process] = {
            sample.name
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    assert "lienganh_events_consumed_total" in exposed["worker"]
    assert exposed["all"] == set()


FREEZE_BOOTSTRAP = """
def create_api():
    return {"built": ["at start"]}


create_worker = create_api
"""

FREEZE_PROBE = """
import contextlib, gc, json
import chassis.http_server, chassis.waiting, chassis.worker
from chassis.entrypoint import main


def served(app, **_options):
    walked = any(obj is app for obj in gc.get_objects())
    print(json.dumps({"walked": walked, "frozen": gc.get_freeze_count()}))
    raise SystemExit(0)


chassis.http_server.serve = served
chassis.http_server.serving_beside = lambda app, **_options: contextlib.nullcontext()
chassis.waiting.wait_for_worker_broker = lambda worker: None
chassis.worker.run_worker = served
main("freeze_service", ["%s"])
"""


def test_a_service_process_leaves_what_it_built_to_start_out_of_the_collections(
    tmp_path: Path,
) -> None:
    """By the time it serves, what a process loaded and built (its app included) is frozen
    (`chassis.heap`): the collector's full passes no longer walk it for each event."""
    package = tmp_path / "freeze_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bootstrap.py").write_text(FREEZE_BOOTSTRAP)
    for process in ("api", "worker", "all"):
        probe = _run(FREEZE_PROBE % process, path=tmp_path)
        assert probe.returncode == 0, probe.stderr
        answer = json.loads(probe.stdout.strip().splitlines()[-1])
        assert answer["walked"] is False, process
        assert answer["frozen"] > 10_000, process  # the modules and what they made, too
