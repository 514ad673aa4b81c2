"""`lienganh run`: broker, topics and every service on this machine, until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chassis.auth import LocalIssuer
from contracts.topics import declared_topics
from localrun import prometheus
from localrun.kafka import LocalBroker, check_prerequisites, ensure_kafka_jars
from localrun.supervisor import Supervisor
from localrun.system import Ports, system_processes
from localrun.topics import create_topics

KAFKA_PORT = 9092
CONTROLLER_PORT = 9093


def run_system(data_dir: Path, agencies: Sequence[str], console: Console) -> None:
    data_dir = data_dir.resolve()
    check_prerequisites()
    with console.status("Fetching Apache Kafka jars from Maven Central (cached)…"):
        ensure_kafka_jars()
    broker = LocalBroker(data_dir / "kafka", port=KAFKA_PORT, controller_port=CONTROLLER_PORT)
    with console.status(f"Starting Kafka on 127.0.0.1:{KAFKA_PORT}…"):
        broker.start()
    supervisor: Supervisor | None = None
    try:
        created = create_topics(broker.bootstrap_servers, declared_topics(tuple(agencies)))
        console.print(f"Topics ready ({len(created)} created).")
        LocalIssuer(data_dir / "keys").public_key_pem()  # services need the key at start
        ports = Ports.fixed(agencies)
        specs = system_processes(
            data_dir=data_dir,
            bootstrap_servers=broker.bootstrap_servers,
            ports=ports,
            agencies=agencies,
        )
        if prometheus.installed():  # optional: scrapes every process, loads the alert rules
            specs.append(prometheus.prometheus_process(data_dir, ports))
        supervisor = Supervisor(specs, data_dir / "logs")
        with console.status(f"Starting {len(specs)} service processes…"):
            supervisor.start()
            supervisor.wait_ready(timeout_s=180)
        _seed_demo_cases(ports, data_dir, console)
        _print_urls(console, specs, broker.bootstrap_servers, data_dir)
        _wait_for_ctrl_c_or_crash(supervisor, console)
    finally:
        console.print("Stopping…")
        if supervisor is not None:
            supervisor.stop()
        broker.stop()


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


def _print_urls(console: Console, specs: Sequence, bootstrap: str, data_dir: Path) -> None:
    table = Table(title="Liên Ngành is running")
    table.add_column("process")
    table.add_column("URL")
    for spec in specs:
        table.add_row(spec.name, spec.public_url or spec.ready_url.removesuffix("/readyz"))
    console.print(table)
    console.print(f"Kafka: {bootstrap}   data: {data_dir}   logs: {data_dir / 'logs'}")
    notifications = next((s for s in specs if s.name == "notifications-api"), None)
    if notifications is not None:
        inbox = notifications.ready_url.removesuffix("/readyz") + "/inbox"
        console.print(f"Inspector inbox: {inbox}   e-mails: {data_dir / 'mail'} (see mail-sink)")
    console.print(
        "Token: .venv/bin/lienganh token --subject police-inspector-hn-01 "
        "--agency police --role inspector --province 01"
    )
    if not any(spec.name == "prometheus" for spec in specs):
        console.print("Prometheus not installed (apt-get install prometheus) — not started.")
    console.print("Alerts and dashboards: deploy/monitoring/ (docs/metrics.md).")
    console.print("Press Ctrl-C to stop everything.")


def _wait_for_ctrl_c_or_crash(supervisor: Supervisor, console: Console) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            crashed = supervisor.first_exited()
            if crashed:
                console.print(f"[red]{crashed} exited[/red]:\n{supervisor.log_tail(crashed)}")
                return
    except KeyboardInterrupt:
        return
