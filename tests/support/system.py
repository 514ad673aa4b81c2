"""The whole system as separate processes, for end-to-end tests (same code as `make run`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from chassis.auth import LocalIssuer
from localrun.supervisor import Supervisor
from localrun.system import Layout, Ports, migrate_stores, system_processes

T = TypeVar("T")


@dataclass
class RunningSystem:
    bootstrap: str
    data_dir: Path
    ports: Ports
    issuer: LocalIssuer
    supervisor: Supervisor
    layout: Layout = "separate"

    def token(
        self, subject: str, agency: str, roles: Sequence[str], provinces: Sequence[str]
    ) -> str:
        return self.issuer.mint(subject, agency, list(roles), list(provinces))

    def settings(self, instance: str) -> Mapping[str, str]:
        """The environment of an instance's processes (its API's and its worker's are one)."""
        names = (instance, f"{instance}-api", f"{instance}-worker")
        return next(spec.env for spec in self.supervisor.specs if spec.name in names)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports.api[service]}{path}"

    def get(self, service: str, path: str, token: str | None, **params: Any) -> httpx.Response:
        return httpx.get(self.url(service, path), headers=_auth(token), params=params, timeout=30)

    def post(self, service: str, path: str, token: str | None, body: Any) -> httpx.Response:
        return httpx.post(self.url(service, path), headers=_auth(token), json=body, timeout=30)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def start_system(
    data_dir: Path,
    bootstrap: str,
    agencies: Sequence[str],
    database_urls: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    layout: Layout = "separate",
) -> RunningSystem:
    issuer = LocalIssuer(data_dir / "keys")
    issuer.public_key_pem()
    ports = Ports.free(agencies)
    specs = system_processes(
        data_dir=data_dir,
        bootstrap_servers=bootstrap,
        ports=ports,
        agencies=agencies,
        database_urls=database_urls,
        extra_env={"PYTHONUNBUFFERED": "1", **(extra_env or {})},
        layout=layout,
    )
    migrate_stores(specs)
    supervisor = Supervisor(specs, data_dir / "logs")
    supervisor.start()
    try:
        supervisor.wait_ready(timeout_s=240)
    except Exception:
        supervisor.stop()
        raise
    return RunningSystem(bootstrap, data_dir, ports, issuer, supervisor, layout)


def eventually(check: Callable[[], T], timeout_s: float = 90.0, interval_s: float = 0.25) -> T:
    """Retry `check` until it returns without raising; asynchronous effects get time to land.

    The deadline is a liveness bound for a stuck pipeline, not a speed assertion.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except (AssertionError, StopIteration, KeyError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(interval_s)


def metric_value(exposition: str, sample: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None
