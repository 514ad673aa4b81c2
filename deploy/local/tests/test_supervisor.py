"""The local supervisor restarts what crashes, within a budget, and stops everything on
SIGTERM or when a process has used its budget. Real processes, real signals."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from chassis.auth import LocalIssuer
from localrun.kafka import LocalBroker
from localrun.ports import free_port
from localrun.process_env import process_env
from localrun.run import keep_running
from localrun.supervisor import (
    ProcessFailed,
    ProcessSpec,
    RestartBudget,
    RestartBudgetExceeded,
    RestartPolicy,
    Supervisor,
    describe_exit,
)
from localrun.system import Ports, broker_process, system_processes
from tests.support.system import metric_value

CRASHES = [sys.executable, "-c", "import sys; sys.exit(3)"]
SLEEPS = [sys.executable, "-c", "import time; time.sleep(600)"]


def policy(**values: float) -> RestartPolicy:
    defaults = {"backoff_initial_s": 0.0, "backoff_max_s": 0.0, "metrics_port": 0}
    return RestartPolicy(**(defaults | values))  # type: ignore[arg-type]


def poll(condition: Callable[[], object], timeout_s: float = 120.0) -> None:
    """Until `condition()` is truthy: a liveness bound, not a speed assertion."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a parent that is gone too) counts as stopped.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


# --- budget and backoff arithmetic (no processes, an injected clock) ---


def test_the_delay_doubles_with_each_restart_inside_the_window_up_to_its_cap():
    budget = RestartBudget(policy(backoff_initial_s=1, backoff_max_s=5, max_restarts=10))
    delays = []
    for now in range(6):
        delays.append(budget.delay(now))
        budget.record(now)
    assert delays == [1, 2, 4, 5, 5, 5]


def test_restarts_older_than_the_window_no_longer_count():
    budget = RestartBudget(
        policy(max_restarts=2, window_s=60, backoff_initial_s=1, backoff_max_s=30)
    )
    budget.record(0)
    budget.record(10)
    assert not budget.allows_restart(59)
    assert budget.delay(59) == 4
    assert budget.allows_restart(60.5)  # the restart at 0 has left the window
    assert budget.recent(70.5) == 0
    assert budget.delay(70.5) == 1  # a process that stayed up a whole window starts afresh


def test_a_budget_of_zero_allows_no_restart():
    assert not RestartBudget(policy(max_restarts=0)).allows_restart(0)


def test_exit_descriptions_name_the_code_or_the_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by signal SIGKILL"
    assert describe_exit(-15) == "killed by signal SIGTERM"


def test_restart_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LIENGANH_SUPERVISOR_MAX_RESTARTS", "7")
    monkeypatch.setenv("LIENGANH_SUPERVISOR_WINDOW_S", "30")
    settings = RestartPolicy()
    assert (settings.max_restarts, settings.window_s) == (7, 30)


# --- real processes ---


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_restarts_wait_for_their_backoff_and_count_only_inside_the_window(tmp_path: Path):
    clock = FakeClock()
    supervisor = Supervisor(
        [ProcessSpec("crasher", CRASHES, {})],
        tmp_path,
        policy=policy(max_restarts=2, window_s=100, backoff_initial_s=10, backoff_max_s=10),
        clock=clock,
        report=lambda _: None,
    )
    supervisor.start()
    try:
        poll(lambda: supervisor.first_exited() == "crasher")
        assert supervisor.watch() == []  # scheduled: due in 10 s of the injected clock
        clock.now = 9.9
        assert supervisor.watch() == []
        clock.now = 10.0
        assert supervisor.watch() == ["crasher"]
        poll(lambda: supervisor.first_exited() == "crasher")
        clock.now = 20.0
        supervisor.watch()
        clock.now = 30.0
        assert supervisor.watch() == ["crasher"]
        poll(lambda: supervisor.first_exited() == "crasher")
        with pytest.raises(RestartBudgetExceeded, match="after 2 restarts within 100s"):
            supervisor.watch()  # two restarts (at 10 and 30) inside the window: no third
        clock.now = 111.0  # the restart at 10 left the window: one more is allowed
        supervisor.watch()
        clock.now = 200.0
        assert supervisor.watch() == ["crasher"]
        assert supervisor.restarts("crasher") == 3
    finally:
        supervisor.stop()


def test_a_process_marked_not_to_restart_fails_the_watch(tmp_path: Path):
    supervisor = Supervisor(
        [ProcessSpec("one-shot", CRASHES, {}, restart=False)], tmp_path, policy=policy()
    )
    supervisor.start()
    try:
        poll(lambda: supervisor.first_exited())
        with pytest.raises(ProcessFailed, match="one-shot exited with code 3"):
            supervisor.watch()
    finally:
        supervisor.stop()


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


def test_processes_start_on_two_malloc_arenas_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    specs = [
        ProcessSpec("lean", SLEEPS, {}),
        ProcessSpec("told", SLEEPS, {"MALLOC_ARENA_MAX": "4"}),
    ]
    supervisor = Supervisor(specs, tmp_path, policy=policy())
    supervisor.start()
    try:
        pids = supervisor.pids()
        assert _environ(pids["lean"])["MALLOC_ARENA_MAX"] == "2"
        assert _environ(pids["told"])["MALLOC_ARENA_MAX"] == "4"
    finally:
        supervisor.stop()


def test_the_environment_overrides_the_lean_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert process_env()["MALLOC_ARENA_MAX"] == "8"
    assert process_env({"MALLOC_ARENA_MAX": "1"})["MALLOC_ARENA_MAX"] == "1"


def test_a_stopped_process_is_not_restarted(tmp_path: Path):
    supervisor = Supervisor([ProcessSpec("sleeper", SLEEPS, {})], tmp_path, policy=policy())
    supervisor.start()
    supervisor.stop(["sleeper"])
    assert supervisor.watch() == []
    assert supervisor.pids() == {}
    assert supervisor.restarts("sleeper") == 0


def test_gives_up_and_stops_everything_when_a_process_crashes_beyond_its_budget(
    tmp_path: Path,
):
    output = io.StringIO()
    console = Console(file=output, width=200)
    supervisor = Supervisor(
        [ProcessSpec("crasher", CRASHES, {}), ProcessSpec("bystander", SLEEPS, {})],
        tmp_path,
        policy=policy(max_restarts=2, window_s=3600),
        report=lambda message: console.print(message, markup=False),
    )
    started: dict[str, int] = {}

    def start() -> None:
        supervisor.start()
        started.update(supervisor.pids())

    code = keep_running(supervisor, console, start, poll_s=0.05)

    assert code == 1
    assert supervisor.restarts("crasher") == 2
    assert supervisor.pids() == {}
    poll(lambda: not alive(started["bystander"]))
    text = output.getvalue()
    assert "crasher exited with code 3; restarting in 0.0s (restart 1 of at most 2" in text
    assert "crasher keeps crashing; stopping everything." in text
    assert "crasher exited with code 3 after 2 restarts within 3600s (budget: 2)" in text


@pytest.fixture
def runner_script(tmp_path: Path) -> Path:
    """`lienganh run`'s loop over two sleeping processes, in a process of its own."""
    script = tmp_path / "runner.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            from pathlib import Path
            from rich.console import Console
            from localrun.run import keep_running
            from localrun.supervisor import ProcessSpec, Supervisor

            sleeps = {SLEEPS!r}
            supervisor = Supervisor(
                [ProcessSpec("a", sleeps, {{}}), ProcessSpec("b", sleeps, {{}})],
                Path(sys.argv[1]),
            )

            def start():
                supervisor.start()
                Path(sys.argv[2]).write_text(json.dumps(supervisor.pids()))

            sys.exit(keep_running(supervisor, Console(), start, poll_s=0.1))
            """
        )
    )
    return script


def test_sigterm_stops_every_process_and_the_runner(tmp_path: Path, runner_script: Path):
    pids_file = tmp_path / "pids.json"
    runner = subprocess.Popen(
        [sys.executable, str(runner_script), str(tmp_path / "logs"), str(pids_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        poll(pids_file.exists)
        pids = json.loads(pids_file.read_text())
        assert set(pids) == {"a", "b"} and all(alive(pid) for pid in pids.values())
        runner.send_signal(signal.SIGTERM)
        output, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, output.decode()
    assert b"Stopping" in output
    poll(lambda: not any(alive(pid) for pid in pids.values()))


@pytest.fixture
def api_without_broker(tmp_path: Path) -> Iterator[tuple[Supervisor, ProcessSpec]]:
    """The referrals API, its broker address pointing where nothing listens."""
    LocalIssuer(tmp_path / "keys").public_key_pem()
    specs = system_processes(
        data_dir=tmp_path,
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        ports=Ports.free(("police",)),
        agencies=("police",),
        extra_env={"PYTHONUNBUFFERED": "1"},
    )
    api = next(spec for spec in specs if spec.name == "referrals-api")
    supervisor = Supervisor([api], tmp_path / "logs", policy=policy())
    yield supervisor, api
    supervisor.stop()


def test_an_api_starts_and_answers_while_the_broker_is_down(api_without_broker):
    supervisor, api = api_without_broker
    supervisor.start()
    supervisor.wait_ready(timeout_s=180)
    base = (api.ready_url or "").removesuffix("/readyz")
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


def test_a_process_killed_with_sigkill_is_restarted_and_answers_again(api_without_broker):
    supervisor, api = api_without_broker
    supervisor.start()
    supervisor.wait_ready(timeout_s=180)
    metrics_url = supervisor.serve_metrics(0)
    first_pid = supervisor.pids()[api.name]

    os.killpg(first_pid, signal.SIGKILL)
    poll(lambda: supervisor.watch() or supervisor.restarts(api.name))

    assert supervisor.restarts(api.name) == 1
    new_pid = supervisor.pids()[api.name]
    assert new_pid != first_pid
    supervisor.wait_ready(timeout_s=180)  # fails if the restarted process exits
    exposition = httpx.get(metrics_url, timeout=10).text
    assert metric_value(exposition, "lienganh_supervisor_restarts_total", process=api.name) == 1
    assert metric_value(exposition, "lienganh_supervisor_process_up", process=api.name) == 1


@pytest.mark.kafka
def test_the_broker_is_supervised_too_and_comes_back_on_its_ports(tmp_path: Path):
    broker = LocalBroker(tmp_path / "kafka")
    kafka = broker_process(broker)
    supervisor = Supervisor([kafka], tmp_path / "logs", policy=policy())
    supervisor.start()
    try:
        supervisor.wait_ready(timeout_s=180)
        first_pid = supervisor.pids()["kafka"]
        os.killpg(first_pid, signal.SIGKILL)
        poll(lambda: supervisor.watch() or supervisor.restarts("kafka"))
        assert supervisor.pids()["kafka"] != first_pid
        supervisor.wait_ready(timeout_s=180)
        assert broker.answers()
    finally:
        supervisor.stop()
    assert not broker.answers()
