"""Chaos benchmark: kill -9 processes and restart the broker under a steady load, then prove
nothing was lost or duplicated.

Starts the broker and the whole system under the restarting supervisor (what `make run`
runs; `tests/support/chaos.py`), then, all seeded by `--seed`:
1. baseline: intake (synthetic reports through the cases API) and agency actions (acknowledge,
   accept, reject, transfer, start, complete through the agency APIs) at `--rate` for
   `--baseline-s` seconds, no faults;
2. chaos: the same load while `--kills` kill -9s of random APIs and workers and
   `--broker-restarts` broker restarts (SIGTERM and kill -9 alternating) are injected one
   after another, `--gap-min`…`--gap-max` s apart; after each one, the time until the process
   answers ready again and a probe case has flowed through it (recovery);
3. the load stops, the system drains (lag 0, outboxes empty, e-mails sent), and every
   invariant is checked from the SQLite files and the topics themselves.

Prints faults by kind, invariants, lost and duplicated counts, recovery p50/p99 per fault
kind, and intake→first-notification latency p50/p99 with and without faults.

Run: `make bench-chaos` (a short run) or the issue's full one:
`.venv/bin/python benchmarks/chaos.py --seed 16 --kills 200 --broker-restarts 20`.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import Future
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts.topics import DEFAULT_AGENCIES  # noqa: E402
from localrun.system import LAYOUTS  # noqa: E402
from tests.support.chaos import (  # noqa: E402
    ChaosSystem,
    Fault,
    Load,
    check_invariants,
    fault_kind,
    fault_plan,
    first_notification_latencies,
    inject,
    percentile,
    start_chaos_system,
    summary_lines,
    wait_drained,
)


def load_running(load: Load, phase: str, rate: float, action_rate: float) -> Any:
    """Start intake and actions on threads; a function that stops them and returns the
    intake futures."""
    stop = threading.Event()
    futures: list[Future] = []
    intake = threading.Thread(
        target=lambda: futures.extend(load.run_intake(phase, rate, stop)), daemon=True
    )
    actions = threading.Thread(target=load.run_actions, args=(action_rate, stop), daemon=True)
    intake.start()
    actions.start()

    def finish() -> list[Future]:
        stop.set()
        intake.join()
        actions.join()
        for future in futures:
            future.result()
        return futures

    return finish


def run_faults(
    system: ChaosSystem, load: Load, args: argparse.Namespace, rng: random.Random
) -> list[Fault]:
    plan = fault_plan(rng, system.process_names(), args.kills, args.broker_restarts)
    faults: list[Fault] = []
    stop_at = time.monotonic() + args.max_minutes * 60
    for number, (process, sig) in enumerate(plan, 1):
        if time.monotonic() > stop_at:
            print(f"  --max-minutes reached: {len(faults)} of {len(plan)} faults injected")
            break
        time.sleep(rng.uniform(args.gap_min, args.gap_max))
        if system.failure is not None:
            raise RuntimeError(f"supervisor stopped: {system.failure}")
        try:
            fault = inject(system, load, process, sig, timeout_s=args.recovery_timeout)
        except TimeoutError as error:
            print(f"  [{number}/{len(plan)}] {error}", flush=True)
            fault = Fault(fault_kind(process, sig), process)
        faults.append(fault)
        recovered = f"{fault.recovered_s:.1f}" if fault.recovered_s is not None else "—"
        print(
            f"  [{number}/{len(plan)}] {fault.kind:16} {process:34} ready "
            f"{fault.ready_s or 0:5.1f} s, recovered {recovered} s",
            flush=True,
        )
    return faults


def recovery_lines(faults: list[Fault]) -> list[str]:
    by_kind: dict[str, list[Fault]] = defaultdict(list)
    for fault in faults:
        by_kind[fault.kind].append(fault)
    lines = []
    for kind, group in sorted(by_kind.items()):
        recovered = [f.recovered_s for f in group if f.recovered_s is not None]
        ready = [f.ready_s for f in group if f.ready_s is not None]
        lines.append(
            f"  {kind:16} x{len(group):3}: recovered p50 {percentile(recovered, 50):5.1f} s, "
            f"p99 {percentile(recovered, 99):5.1f} s, max {max(recovered, default=0):5.1f} s "
            f"(ready again p50 {percentile(ready, 50):4.1f} s); "
            f"not recovered in time: {len(group) - len(recovered)}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--kills", type=int, default=20, help="kill -9s of service processes")
    parser.add_argument("--broker-restarts", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1.0, help="intake POSTs per second")
    parser.add_argument("--action-rate", type=float, default=1.0, help="agency actions per s")
    parser.add_argument("--baseline-s", type=float, default=60.0, help="fault-free load first")
    parser.add_argument("--gap-min", type=float, default=1.0)
    parser.add_argument("--gap-max", type=float, default=5.0)
    parser.add_argument("--recovery-timeout", type=float, default=300.0)
    parser.add_argument(
        "--max-minutes", type=float, default=float("inf"), help="stop injecting after this"
    )
    parser.add_argument("--data-dir", type=Path, help="keep the system's data here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="separate",
        help="separate: APIs and workers killed alone; combined: `make run`'s processes",
    )
    args = parser.parse_args()
    # SIGTERM (e.g. `timeout`) stops the run like Ctrl-C: the system is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="lienganh-chaos-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        started = time.monotonic()
        system = start_chaos_system(data_dir / "system", DEFAULT_AGENCIES, layout=args.layout)
        print(f"system up in {time.monotonic() - started:.0f} s", flush=True)
        load = Load(system.running, DEFAULT_AGENCIES, args.seed)
        try:
            finish = load_running(load, "baseline", args.rate, args.action_rate)
            time.sleep(args.baseline_s)
            baseline = [f.result().case_id for f in finish()]
            print(f"baseline: {len(baseline)} cases accepted", flush=True)
            finish = load_running(load, "chaos", args.rate, args.action_rate)
            chaos_started = time.monotonic()
            try:
                faults = run_faults(system, load, args, rng)
            finally:
                chaotic = [f.result().case_id for f in finish()]
            chaos_s = time.monotonic() - chaos_started
            drained_s = wait_drained(system)
            checks = check_invariants(
                system.data_dir,
                system.running.bootstrap,
                load.intakes,
                load.actions,
                DEFAULT_AGENCIES,
            )
            without = first_notification_latencies(system.data_dir, set(map(str, baseline)))
            with_faults = first_notification_latencies(system.data_dir, set(map(str, chaotic)))
        finally:
            load.close()
            system.close()
    kinds = Counter(fault.kind for fault in faults)
    retries: Counter[str] = Counter()
    for intake in load.intakes:
        retries.update(intake.failures)
    lost = sum(check.lost for check in checks)
    duplicated = sum(check.duplicated for check in checks)
    print(f"seed {args.seed}; chaos phase {chaos_s / 60:.1f} min; drained in {drained_s:.0f} s")
    print("faults injected: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
    print(
        f"intake: {len(load.intakes)} cases accepted (baseline {len(baseline)}, chaos "
        f"{len(chaotic)}, probes {len(faults)}); failed POSTs retried by the driver: "
        + (", ".join(f"{k} x{n}" for k, n in sorted(retries.items())) or "none")
    )
    print(
        "agency actions: " + ", ".join(f"{k} x{n}" for k, n in sorted(load.action_outcomes.items()))
    )
    print(f"invariants checked: {len(checks)}, failing: {sum(not c.ok for c in checks)}")
    print("\n".join(summary_lines(checks)))
    print(f"lost: {lost}, duplicated: {duplicated}")
    print("recovery (signal → process ready again and a probe case flowed through it):")
    print("\n".join(recovery_lines(faults)))
    print(
        f"intake→first notification: without faults p50 {percentile(without, 50):.1f} s, "
        f"p99 {percentile(without, 99):.1f} s ({len(without)} cases); with faults "
        f"p50 {percentile(with_faults, 50):.1f} s, p99 {percentile(with_faults, 99):.1f} s "
        f"({len(with_faults)} cases)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "faults": dict(kinds),
                    "recovery": [vars(f) for f in faults],
                    "checks": [vars(c) for c in checks],
                    "lost": lost,
                    "duplicated": duplicated,
                    "latency_without": without,
                    "latency_with": with_faults,
                    "retries": dict(retries),
                    "actions": dict(load.action_outcomes),
                },
                indent=1,
            )
        )
    if lost or duplicated or not all(check.ok for check in checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
