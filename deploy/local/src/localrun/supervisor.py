"""A small process manager: start processes, wait until they answer, stop them all.

`make run` and the end-to-end tests use the same code, so what the tests prove is what a
developer runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    """One OS process of the system."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str
    public_url: str | None = None
    cwd: Path | None = None


class ProcessFailed(RuntimeError):
    pass


@dataclass
class Supervisor:
    specs: Sequence[ProcessSpec]
    log_dir: Path
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, names: Sequence[str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            if names is not None and spec.name not in names:
                continue
            log = (self.log_dir / f"{spec.name}.log").open("ab")
            self._procs[spec.name] = subprocess.Popen(
                list(spec.argv),
                env={**os.environ, **spec.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=spec.cwd,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not each child
            )
            log.close()

    def wait_ready(self, timeout_s: float = 120.0, names: Sequence[str] | None = None) -> None:
        """Poll every process's readiness URL until all answer 200, or fail with its log."""
        deadline = time.monotonic() + timeout_s
        pending = [s for s in self.specs if names is None or s.name in names]
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for spec in list(pending):
                    self._check_alive(spec.name)
                    try:
                        if client.get(spec.ready_url).status_code == 200:
                            pending.remove(spec)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    names_left = ", ".join(spec.name for spec in pending)
                    raise ProcessFailed(f"not ready after {timeout_s:.0f}s: {names_left}")
                if pending:
                    time.sleep(0.2)

    def _check_alive(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            raise ProcessFailed(
                f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}"
            )

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def first_exited(self) -> str | None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                return name
        return None

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items() if proc.poll() is None}

    def stop(self, names: Sequence[str] | None = None, timeout_s: float = 20.0) -> None:
        targets = [
            (name, proc)
            for name, proc in reversed(list(self._procs.items()))
            if names is None or name in names
        ]
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
            self._procs.pop(name, None)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
