"""`lienganh run`: broker, topics and every service on this machine, until Ctrl-C.

Everything, the broker included, runs under one `Supervisor`: a process that crashes is
restarted with backoff (reported on the console and in `lienganh_supervisor_restarts_total`);
everything stops on Ctrl-C / SIGTERM, or when one process has used its restart budget.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table

from chassis.auth import LocalIssuer
from contracts.topics import declared_topics
from localrun import prometheus
from localrun.kafka import (
    LocalBroker,
    check_prerequisites,
    ensure_class_archive,
    ensure_kafka_jars,
)
from localrun.supervisor import (
    ProcessFailed,
    ProcessSpec,
    RestartBudgetExceeded,
    RestartPolicy,
    Supervisor,
)
from localrun.system import Layout, Ports, broker_process, migrate_stores, system_processes
from localrun.topics import create_topics

KAFKA_PORT = 9092
CONTROLLER_PORT = 9093


class StopRequested(Exception):
    """SIGTERM: stop everything, like Ctrl-C."""


def run_system(
    data_dir: Path, agencies: Sequence[str], console: Console, layout: Layout = "combined"
) -> None:
    """Until Ctrl-C / SIGTERM; exits with code 1 when a process used its restart budget.
    `layout`: each service in one process (`combined`) or as an API and a worker apart."""
    data_dir = data_dir.resolve()
    check_prerequisites()
    with console.status("Fetching Apache Kafka jars from Maven Central (cached)…"):
        ensure_kafka_jars()
    with console.status("Archiving Kafka's classes once (faster broker starts)…"):
        ensure_class_archive()
    policy = RestartPolicy()
    broker = LocalBroker(data_dir / "kafka", port=KAFKA_PORT, controller_port=CONTROLLER_PORT)
    kafka = broker_process(broker)
    LocalIssuer(data_dir / "keys").public_key_pem()  # services need the key at start
    ports = Ports.fixed(agencies)
    services = system_processes(
        data_dir=data_dir,
        bootstrap_servers=broker.bootstrap_servers,
        ports=ports,
        agencies=agencies,
        layout=layout,
    )
    if prometheus.installed():  # optional: scrapes every process, loads the alert rules
        services.append(prometheus.prometheus_process(data_dir, ports))
    supervisor = Supervisor(
        [kafka, *services], data_dir / "logs", policy=policy, report=_reporter(console)
    )

    def start() -> None:
        with console.status(f"Starting Kafka on {broker.bootstrap_servers}…"):
            supervisor.start([kafka.name])
            supervisor.wait_ready(timeout_s=180, names=[kafka.name], restart=True)
        created = create_topics(broker.bootstrap_servers, declared_topics(tuple(agencies)))
        console.print(f"Topics ready ({len(created)} created).")
        metrics_url = supervisor.serve_metrics(policy.metrics_port)
        names = [spec.name for spec in services]
        with console.status("Migrating the services' stores…"):
            migrate_stores(services)
        with console.status(f"Starting {len(services)} service processes…"):
            supervisor.start(names)
            supervisor.wait_ready(timeout_s=180, names=names, restart=True)
        _seed_demo_cases(ports, data_dir, console)
        _print_urls(console, [kafka, *services], metrics_url, data_dir, ports)

    if keep_running(supervisor, console, start) != 0:
        raise SystemExit(1)


def keep_running(
    supervisor: Supervisor, console: Console, start: Callable[[], None], poll_s: float = 1.0
) -> int:
    """`start`, then restart what crashes until Ctrl-C / SIGTERM (exit code 0) or until a
    process exceeds its restart budget (1); everything is stopped either way."""
    code = 0
    previous = signal.signal(signal.SIGTERM, _raise_stop_requested)
    try:
        start()
        while True:
            supervisor.watch()
            time.sleep(poll_s)
    except RestartBudgetExceeded as error:
        _print_failure(console, f"{error.name} keeps crashing; stopping everything.\n{error}")
        code = 1
    except ProcessFailed as error:
        _print_failure(console, f"Stopping everything: {error}")
        code = 1
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # already stopping: let it finish
        console.print("Stopping…")
        try:
            supervisor.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
    return code


def _raise_stop_requested(signum: int, _frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)


def _print_failure(console: Console, message: str) -> None:
    console.print(message, style="bold red", markup=False, highlight=False)


def _reporter(console: Console) -> Callable[[str], None]:
    def report(message: str) -> None:
        console.print(message, style="yellow", markup=False, highlight=False)

    return report


def _seed_demo_cases(ports: Ports, data_dir: Path, console: Console) -> None:
    """Once per data dir: synthetic reports through the cases API (its own `seed` command)."""
    marker = data_dir / "demo-seeded"
    if marker.exists():
        return
    url = f"http://127.0.0.1:{ports.api['cases']}"
    command = [sys.executable, "-m", "cases", "seed", "--url", url, "--count", "60"]
    done = subprocess.run([*command, "--key-dir", str(data_dir / "keys")], check=False)
    if done.returncode == 0:
        marker.touch()
    else:
        console.print("[yellow]Demo seed failed; the system runs without demo cases.[/yellow]")


def _print_urls(
    console: Console,
    specs: Sequence[ProcessSpec],
    metrics_url: str,
    data_dir: Path,
    ports: Ports,
) -> None:
    table = Table(title="Liên Ngành is running")
    table.add_column("process")
    table.add_column("URL")
    for spec in specs:
        table.add_row(spec.name, spec.public_url or (spec.ready_url or "").removesuffix("/readyz"))
    table.add_row("supervisor (restarts)", metrics_url)
    console.print(table)
    console.print(f"data: {data_dir}   logs: {data_dir / 'logs'}")
    inbox = f"http://127.0.0.1:{ports.api['notifications']}/inbox"
    console.print(f"Inspector inbox: {inbox}   e-mails: {data_dir / 'mail'} (see mail-sink)")
    console.print(
        "Token: .venv/bin/lienganh token --subject police-inspector-hn-01 "
        "--agency police --role inspector --province 01"
    )
    if not any(spec.name == "prometheus" for spec in specs):
        console.print("Prometheus not installed (apt-get install prometheus) — not started.")
    console.print("Alerts and dashboards: deploy/monitoring/ (docs/metrics.md).")
    console.print("Crashed processes are restarted; press Ctrl-C to stop everything.")
