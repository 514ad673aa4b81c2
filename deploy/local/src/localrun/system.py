"""The processes of the whole local system, and where each one listens.

Which processes run, with which settings, is deploy/processes.yaml (localrun.manifest); this
module adds what only `make run` knows: loopback ports, the data folder, the local broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from chassis.dead_letters import default_private_path
from chassis.keypairs import load_or_create_keypair
from contracts.topics import DEFAULT_AGENCIES
from localrun.kafka import LocalBroker
from localrun.manifest import Addresses, Instance, Target, load_manifest
from localrun.ports import free_port
from localrun.supervisor import ProcessFailed, ProcessSpec


@dataclass(frozen=True)
class Ports:
    """API and worker ports by instance name, and the local mail sink's SMTP and web ports."""

    api: dict[str, int]
    worker: dict[str, int]
    smtp: int = 2525
    mail_web: int = 8025

    @classmethod
    def fixed(cls, agencies: Sequence[str]) -> Ports:
        """The ports of deploy/processes.yaml (`local_ports`): what `make run` prints."""
        manifest = load_manifest()
        instances = manifest.topology(agencies).instances
        sink = manifest.stand_ins["mail-sink"].local_ports
        return cls(
            api={i.name: i.local_ports.api for i in instances},
            worker={i.name: i.local_ports.worker for i in instances},
            smtp=sink["smtp"],
            mail_web=sink["web"],
        )

    @classmethod
    def free(cls, agencies: Sequence[str]) -> Ports:
        """Any free ports: end-to-end tests run beside a developer's `make run`."""
        names = [i.name for i in load_manifest().topology(agencies).instances]
        return cls(
            api={name: free_port() for name in names},
            worker={name: free_port() for name in names},
            smtp=free_port(),
            mail_web=free_port(),
        )


@dataclass(frozen=True)
class _Loopback(Addresses):
    """Every process on 127.0.0.1, each on its own port."""

    ports: Ports
    data_dir: Path
    bootstrap_servers: str
    target: Target = "local"

    def api_url(self, instance: Instance) -> str:
        return f"http://127.0.0.1:{self.ports.api[instance.name]}"

    def host_api_url(self, instance: Instance) -> str:
        return self.api_url(instance)

    def worker_port(self, instance: Instance) -> int:
        return self.ports.worker[instance.name]

    def value(self, name: str) -> str:
        values = {
            "data_dir": str(self.data_dir),
            "kafka_bootstrap": self.bootstrap_servers,
            "smtp_port": str(self.ports.smtp),
        }
        return values[name]


def ensure_local_keys(data_dir: Path) -> None:
    """The key pairs several processes read, made before any of them starts: the cases
    service's intake pair (agencies seal case reports to its public half) and the operators'
    dead-letter pair (workers seal dead letters to its public half)."""
    keys = data_dir / "keys"
    load_or_create_keypair(keys / "cases-intake.private.json")
    load_or_create_keypair(default_private_path(data_dir))


# How each service runs on this machine. `separate`: its API and its worker apart, as
# containers run them (one can be stopped, killed or restarted alone). `combined`: one process
# serving both (`python -m <service> all`), each on its own port still: ~85 MiB less a
# service, 9 Python processes instead of 17 (docs/benchmarks.md). Both share one store and one
# Kafka principal already, so nothing about access or guarantees changes.
Layout = Literal["separate", "combined"]
LAYOUTS: tuple[Layout, ...] = ("separate", "combined")


def system_processes(
    *,
    data_dir: Path,
    bootstrap_servers: str,
    ports: Ports,
    agencies: Sequence[str] = DEFAULT_AGENCIES,
    database_urls: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    python: str = sys.executable,
    layout: Layout = "separate",
) -> list[ProcessSpec]:
    """The processes of every service of deploy/processes.yaml (agencies once per agency),
    laid out as `layout` says, then the mail sink. `database_urls` by instance name; SQLite
    files otherwise. A `separate` process is named `<instance>-api` / `<instance>-worker`, a
    `combined` one `<instance>`."""
    database_urls = database_urls or {}
    ensure_local_keys(data_dir)
    topology = load_manifest().topology(agencies)
    loopback = _Loopback(ports, data_dir, bootstrap_servers)
    specs: list[ProcessSpec] = []
    for instance in topology.instances:
        env = {**(extra_env or {}), **topology.env(instance, loopback)}
        if instance.name in database_urls:
            env[f"{instance.env_prefix}_DATABASE_URL"] = database_urls[instance.name]
        api_url = loopback.api_url(instance)
        api_port = str(ports.api[instance.name])
        api_ready = f"{api_url}{topology.manifest.processes['api'].ready}"
        worker_ready = (
            f"http://127.0.0.1:{ports.worker[instance.name]}"
            f"{topology.manifest.processes['worker'].ready}"
        )
        module = [python, "-m", instance.module]
        if layout == "combined":
            specs.append(
                ProcessSpec(
                    name=instance.name,
                    argv=[*module, "all", "--port", api_port],
                    env=env,
                    ready_check=ready_when_all_answer(api_ready, worker_ready),
                    public_url=f"{api_url}/docs",
                )
            )
            continue
        specs.append(
            ProcessSpec(
                name=f"{instance.name}-api",
                argv=[*module, "api", "--port", api_port],
                env=env,
                ready_url=api_ready,
                public_url=f"{api_url}/docs",
            )
        )
        specs.append(
            ProcessSpec(
                name=f"{instance.name}-worker",
                argv=[*module, "worker"],
                env=env,
                ready_url=worker_ready,
            )
        )
    specs.append(mail_sink(data_dir, ports, python))
    return specs


def ready_when_all_answer(*urls: str) -> Callable[[], bool]:
    """Ready when every one of `urls` answers 200: a combined process's API and worker."""

    def check() -> bool:
        try:
            return all(httpx.get(url, timeout=5).status_code == 200 for url in urls)
        except httpx.HTTPError:
            return False

    return check


@dataclass(frozen=True)
class StoreMigration:
    """`python -m <service> migrate` for one instance, with its worker's settings."""

    instance: str
    argv: list[str]
    env: dict[str, str]


class MigrationFailed(ProcessFailed):
    """A store could not be migrated: `make run` stops with the migration's own error."""


def store_migrations(specs: Sequence[ProcessSpec]) -> list[StoreMigration]:
    """One migration per instance, from the process that runs its worker (a `separate`
    worker or a `combined` process): its API and worker share one store."""
    migrations = []
    for spec in specs:
        module, process = spec.argv[:3], spec.argv[3:4]
        if process in (["worker"], ["all"]):
            env = {**os.environ, **spec.env}
            migrations.append(
                StoreMigration(spec.name.removesuffix("-worker"), [*module, "migrate"], env)
            )
    return migrations


def migrate_stores(specs: Sequence[ProcessSpec]) -> None:
    """Every instance's store brought to its newest revision before its processes start, all
    at once. A process that finds its store current never loads Alembic (~9 MiB each, for
    the process's whole life: ~150 MiB over the 16 processes of a first start)."""
    started = [
        (
            migration,
            subprocess.Popen(
                migration.argv,
                env=migration.env,
                text=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            ),
        )
        for migration in store_migrations(specs)
    ]
    failed = []
    for migration, process in started:
        _, errors = process.communicate()
        if process.returncode != 0:
            failed.append(f"{migration.instance} (exit {process.returncode}):\n{errors[-4000:]}")
    if failed:
        raise MigrationFailed("migrating stores failed: " + "\n".join(failed))


def broker_process(broker: LocalBroker) -> ProcessSpec:
    """The local broker as one of the supervised processes: started first and stopped last
    (stage 0), restarted on the same ports and data, so its topics and offsets survive."""
    return ProcessSpec(
        name="kafka",
        argv=broker.command(),
        env={},
        ready_check=broker.answers,
        public_url=f"kafka://{broker.bootstrap_servers}",
        stage=0,
    )


def mail_sink(data_dir: Path, ports: Ports, python: str = sys.executable) -> ProcessSpec:
    """Development SMTP server: every e-mail lands under data/mail and on its web page."""
    web = f"http://127.0.0.1:{ports.mail_web}"
    return ProcessSpec(
        name="mail-sink",
        argv=[
            python,
            "-m",
            load_manifest().stand_ins["mail-sink"].module,
            "--dir",
            str(data_dir / "mail"),
            "--smtp-port",
            str(ports.smtp),
            "--web-port",
            str(ports.mail_web),
        ],
        env={},
        ready_url=f"{web}/readyz",
        public_url=f"{web}/",
    )
