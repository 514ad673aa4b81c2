"""A short chaos run: kill -9 an API and workers (in `make run`'s combined layout, the
processes that run them) and restart the broker under load, with the supervisor restarting
them as under `make run`; then nothing is lost or duplicated and every invariant holds, read
from the databases and the topics (`tests/support/chaos.py`).

The long run is `benchmarks/chaos.py` (docs/benchmarks.md, "Chaos"). No timing is asserted:
the deadlines below only bound a stuck system.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.topics import DEFAULT_AGENCIES
from tests.support.chaos import (
    ChaosSystem,
    Load,
    check_invariants,
    inject,
    start_chaos_system,
    summary_lines,
    wait_drained,
)

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.own_system]

SEED = 16


# `separate`: as containers run them, an API killed alone, a worker alone. `combined`: as
# `make run` runs them, a service's API and worker killed together in one process.
@pytest.fixture(params=["separate", "combined"])
def chaos_system(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ChaosSystem]:
    system = start_chaos_system(tmp_path / "system", DEFAULT_AGENCIES, layout=request.param)
    try:
        yield system
    finally:
        system.close()


def process_of(system: ChaosSystem, instance: str, kind: str) -> str:
    """The process that runs `kind` (api or worker) of `instance` in the system's layout."""
    return instance if system.running.layout == "combined" else f"{instance}-{kind}"


# A liveness bound for the whole run (system start included) on a busy 2-core machine.
@pytest.mark.timeout(2400)
def test_kills_and_a_broker_restart_under_load_lose_and_duplicate_nothing(
    chaos_system: ChaosSystem,
):
    rng = random.Random(SEED)
    agency = rng.choice([f"agency-{a}" for a in DEFAULT_AGENCIES])
    faults = [
        (process_of(chaos_system, "cases", "api"), signal.SIGKILL),
        (process_of(chaos_system, "referrals", "worker"), signal.SIGKILL),
        (process_of(chaos_system, agency, "worker"), signal.SIGKILL),
        ("kafka", signal.SIGTERM),
    ]
    load = Load(chaos_system.running, DEFAULT_AGENCIES, SEED)
    stop = threading.Event()
    futures: list = []
    intake = threading.Thread(target=lambda: futures.extend(load.run_intake("chaos", 1.0, stop)))
    actions = threading.Thread(target=load.run_actions, args=(1.0, stop))
    intake.start()
    actions.start()
    try:
        stop.wait(15)  # some load in flight before the first fault
        for process, sig in faults:
            fault = inject(chaos_system, load, process, sig, timeout_s=900)
            assert fault.recovered_s is not None
            stop.wait(rng.uniform(1, 5))
    finally:
        stop.set()
        intake.join()
        actions.join()
        accepted = [future.result() for future in futures]
        load.close()
    assert chaos_system.failure is None
    assert len(accepted) >= 30
    wait_drained(chaos_system, timeout_s=900)
    checks = check_invariants(
        chaos_system.data_dir,
        chaos_system.running.bootstrap,
        load.intakes,
        load.actions,
        DEFAULT_AGENCIES,
    )
    report = "\n".join(summary_lines(checks))
    assert sum(check.lost for check in checks) == 0, report
    assert sum(check.duplicated for check in checks) == 0, report
    assert all(check.ok for check in checks), report
    assert all(chaos_system.supervisor.restarts(p) >= 1 for p, _ in faults)
