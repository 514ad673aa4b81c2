"""A small process manager: start processes, wait until they answer, restart what crashes,
stop them all.

`make run` and the end-to-end tests use the same code, so what the tests prove is what a
developer runs. Restarting happens only where someone calls `watch()` (`lienganh run` does,
every second): tests that stop a process on purpose keep it stopped.

Restart rules (`RestartPolicy`, settings `LIENGANH_SUPERVISOR_*`): a process that exits on its
own is started again after `backoff_initial_s`, doubling with each restart still inside the
window, capped at `backoff_max_s`; a process that exits after `max_restarts` restarts within
`window_s` seconds has used its budget, and `watch()` raises `RestartBudgetExceeded` naming it
(the caller stops everything). Every exit is reported with its code or signal and the last
lines of the process's log; restarts are counted in `lienganh_supervisor_restarts_total`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from localrun.process_env import process_env

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class ProcessSpec:
    """One OS process of the system. Ready when `ready_url` answers 200 (or `ready_check`
    returns True, for processes without HTTP, like the broker). Lower `stage`s start first
    and stop last; `restart=False` leaves a crashed process down and fails `watch()`."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    public_url: str | None = None
    cwd: Path | None = None
    ready_check: Callable[[], bool] | None = None
    stage: int = 1
    restart: bool = True


class ProcessFailed(RuntimeError):
    pass


class RestartBudgetExceeded(ProcessFailed):
    """A process kept crashing: more exits than its restart budget allows."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class RestartPolicy(BaseSettings):
    """How the supervisor restarts crashed processes (env `LIENGANH_SUPERVISOR_*`)."""

    model_config = SettingsConfigDict(env_prefix="LIENGANH_SUPERVISOR_", extra="ignore")

    max_restarts: int = Field(
        default=5, ge=0, description="Restarts allowed per process within window_s."
    )
    window_s: float = Field(
        default=300.0, gt=0, description="How far back restarts count against the budget."
    )
    backoff_initial_s: float = Field(
        default=1.0, ge=0, description="Delay before the first restart inside the window."
    )
    backoff_max_s: float = Field(default=30.0, ge=0, description="Cap of the doubling delay.")
    metrics_port: int = Field(
        default=9095, ge=0, le=65535, description="Where `lienganh run` serves its metrics."
    )


@dataclass
class RestartBudget:
    """The restarts of one process inside the sliding window, and what they allow."""

    policy: RestartPolicy
    restarts: deque[float] = field(default_factory=deque)

    def recent(self, now: float) -> int:
        while self.restarts and self.restarts[0] <= now - self.policy.window_s:
            self.restarts.popleft()
        return len(self.restarts)

    def allows_restart(self, now: float) -> bool:
        return self.recent(now) < self.policy.max_restarts

    def delay(self, now: float) -> float:
        """initial * 2^(restarts inside the window), capped: a process that stayed up for a
        whole window starts again from the initial delay."""
        exponent = min(self.recent(now), 32)
        return float(min(self.policy.backoff_max_s, self.policy.backoff_initial_s * 2**exponent))

    def record(self, now: float) -> None:
        self.restarts.append(now)


def describe_exit(returncode: int) -> str:
    """`exited with code 3`, or `killed by signal SIGKILL` (Popen's negative return codes)."""
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Supervisor:
    specs: Sequence[ProcessSpec]
    log_dir: Path
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Clock = time.monotonic
    # Where restarts and exits are told (a console in `lienganh run`); the log otherwise.
    report: Callable[[str], None] = logger.warning
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)
    _budgets: dict[str, RestartBudget] = field(default_factory=dict)
    _restart_counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _metrics_server: WSGIServer | None = None

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry()
        self._restarts_total = Counter(
            "lienganh_supervisor_restarts_total",
            "Times the local supervisor started a process again after it exited.",
            ["process"],
            registry=self.registry,
        )
        self._up = Gauge(
            "lienganh_supervisor_process_up",
            "1 while the process runs, 0 while it is down or waiting to be restarted.",
            ["process"],
            registry=self.registry,
        )
        for spec in self.specs:  # every series exists from the start, at 0
            self._restarts_total.labels(spec.name)
            self._up.labels(spec.name).set(0)

    def start(self, names: Sequence[str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            for spec in sorted(self.specs, key=lambda s: s.stage):
                if names is None or spec.name in names:
                    self._due.pop(spec.name, None)
                    self._launch(spec)

    def _launch(self, spec: ProcessSpec) -> None:
        with (self.log_dir / f"{spec.name}.log").open("ab") as log:
            self._procs[spec.name] = subprocess.Popen(
                list(spec.argv),
                env=process_env(spec.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=spec.cwd,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not each child
            )
        self._up.labels(spec.name).set(1)

    def wait_ready(
        self,
        timeout_s: float = 120.0,
        names: Sequence[str] | None = None,
        *,
        restart: bool = False,
    ) -> None:
        """Poll every process's readiness until all are ready, or fail with its log.

        A process that exits meanwhile fails this at once, unless `restart`: then it is
        restarted like `watch()` does (and fails only beyond its restart budget)."""
        deadline = time.monotonic() + timeout_s
        pending = [s for s in self.specs if names is None or s.name in names]
        with httpx.Client(timeout=2.0) as client:
            while pending:
                if restart:
                    self.watch()
                for spec in list(pending):
                    if not restart:
                        self._check_alive(spec.name)
                    if self._is_ready(spec, client):
                        pending.remove(spec)
                if pending and time.monotonic() > deadline:
                    names_left = ", ".join(spec.name for spec in pending)
                    raise ProcessFailed(f"not ready after {timeout_s:.0f}s: {names_left}")
                if pending:
                    time.sleep(0.2)

    def _is_ready(self, spec: ProcessSpec, client: httpx.Client) -> bool:
        with self._lock:
            proc = self._procs.get(spec.name)
            if proc is None or proc.poll() is not None:
                return False
        if spec.ready_check is not None:
            return spec.ready_check()
        if spec.ready_url is None:
            return True
        try:
            return client.get(spec.ready_url).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_alive(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            raise ProcessFailed(f"{name} {describe_exit(proc.returncode)}:\n{self.log_tail(name)}")

    def watch(self) -> list[str]:
        """One supervision pass: schedule a restart for each process that exited on its own,
        start those whose backoff has passed; the names restarted now.

        Raises `RestartBudgetExceeded` for a process that exited once more than its budget
        allows, and `ProcessFailed` for one whose spec says not to restart it."""
        restarted: list[str] = []
        with self._lock:
            now = self.clock()
            for name, proc in self._procs.items():
                if name not in self._due and proc.poll() is not None:
                    self._schedule_restart(self._spec(name), proc.returncode, now)
            for name, due in list(self._due.items()):
                if due <= now:
                    del self._due[name]
                    self._budgets[name].record(now)
                    self._launch(self._spec(name))
                    self._restarts_total.labels(name).inc()
                    self._restart_counts[name] = self._restart_counts.get(name, 0) + 1
                    self.report(f"{name} restarted (pid {self._procs[name].pid})")
                    restarted.append(name)
        return restarted

    def _schedule_restart(self, spec: ProcessSpec, returncode: int, now: float) -> None:
        self._up.labels(spec.name).set(0)
        why = f"{spec.name} {describe_exit(returncode)}"
        tail = self.log_tail(spec.name, lines=20)
        if not spec.restart:
            raise ProcessFailed(f"{why} (not restarted):\n{tail}")
        budget = self._budgets.setdefault(spec.name, RestartBudget(self.policy))
        if not budget.allows_restart(now):
            raise RestartBudgetExceeded(
                spec.name,
                f"{why} after {budget.recent(now)} restarts within {self.policy.window_s:.0f}s "
                f"(budget: {self.policy.max_restarts}); giving up on it:\n{tail}",
            )
        delay = budget.delay(now)
        self._due[spec.name] = now + delay
        self.report(
            f"{why}; restarting in {delay:.1f}s (restart {budget.recent(now) + 1} of at most "
            f"{self.policy.max_restarts} within {self.policy.window_s:.0f}s). Last log lines:\n"
            f"{tail}"
        )

    def _spec(self, name: str) -> ProcessSpec:
        return next(spec for spec in self.specs if spec.name == name)

    def restarts(self, name: str) -> int:
        """Restarts of `name` since this supervisor started (the metric's value)."""
        return self._restart_counts.get(name, 0)

    def serve_metrics(self, port: int, host: str = "127.0.0.1") -> str:
        """Serve the supervisor's metrics (Prometheus text) until `stop()`; their URL."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._metrics_server = server
        return f"http://{host}:{server.server_port}/metrics"

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def first_exited(self) -> str | None:
        with self._lock:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    return name
        return None

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {name: proc.pid for name, proc in self._procs.items() if proc.poll() is None}

    def stop(self, names: Sequence[str] | None = None, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; the highest stage first (the services
        before the broker they flush to), each stage in reverse start order."""
        with self._lock:  # out of `_procs` first: `watch()` must not restart what we stop
            targets = [
                (name, proc)
                for name, proc in reversed(list(self._procs.items()))
                if names is None or name in names
            ]
            for name, _ in targets:
                del self._procs[name]
                self._due.pop(name, None)
            for name in [n for n in self._due if names is None or n in names]:
                del self._due[name]
        stages = sorted({self._spec(name).stage for name, _ in targets}, reverse=True)
        for stage in stages:
            _stop_all([(n, p) for n, p in targets if self._spec(n).stage == stage], timeout_s)
        for name, _ in targets:
            self._up.labels(name).set(0)
        if names is None and self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None


def _stop_all(targets: list[tuple[str, subprocess.Popen[bytes]]], timeout_s: float) -> None:
    for _, proc in targets:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for name, proc in targets:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time; killing it", name)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
