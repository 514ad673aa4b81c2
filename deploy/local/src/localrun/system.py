"""The processes of the whole local system, and where each one listens."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chassis.dead_letters import default_private_path
from chassis.keypairs import load_or_create_keypair
from contracts.topics import DEFAULT_AGENCIES
from localrun.kafka import free_port
from localrun.supervisor import ProcessSpec

CORE_SERVICES = ("cases", "referrals", "notifications", "reporting")


@dataclass(frozen=True)
class Ports:
    """API and worker ports by process name, and the local mail sink's SMTP and web ports."""

    api: dict[str, int]
    worker: dict[str, int]
    smtp: int = 2525
    mail_web: int = 8025

    @classmethod
    def fixed(cls, agencies: Sequence[str], base: int = 8000) -> Ports:
        names = [*CORE_SERVICES, *(f"agency-{a}" for a in agencies)]
        offsets = [1, 2, 3, 4, *range(11, 11 + len(agencies))]
        return cls(
            api={name: base + offset for name, offset in zip(names, offsets, strict=True)},
            worker={
                name: base + 1000 + offset for name, offset in zip(names, offsets, strict=True)
            },
            smtp=2525,
            mail_web=base + 25,
        )

    @classmethod
    def free(cls, agencies: Sequence[str]) -> Ports:
        names = [*CORE_SERVICES, *(f"agency-{a}" for a in agencies)]
        return cls(
            api={name: free_port() for name in names},
            worker={name: free_port() for name in names},
            smtp=free_port(),
            mail_web=free_port(),
        )


def ensure_local_keys(data_dir: Path) -> None:
    """The key pairs several processes read, made before any of them starts: the cases
    service's intake pair (agencies seal case reports to its public half) and the operators'
    dead-letter pair (workers seal dead letters to its public half)."""
    keys = data_dir / "keys"
    load_or_create_keypair(keys / "cases-intake.private.json")
    load_or_create_keypair(default_private_path(data_dir))


def system_processes(
    *,
    data_dir: Path,
    bootstrap_servers: str,
    ports: Ports,
    agencies: Sequence[str] = DEFAULT_AGENCIES,
    database_urls: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    python: str = sys.executable,
) -> list[ProcessSpec]:
    """API and worker process of every service, agencies once per agency."""
    database_urls = database_urls or {}
    ensure_local_keys(data_dir)
    public_key = str(data_dir / "keys" / "jwt-public.pem")
    specs: list[ProcessSpec] = []
    deployments: list[tuple[str, str, dict[str, str]]] = [
        (name, name.upper(), {}) for name in CORE_SERVICES
    ] + [(f"agency-{agency}", "AGENCY", {"AGENCY": agency}) for agency in agencies]
    for name, prefix, own_env in deployments:
        module = "agencies" if name.startswith("agency-") else name
        env = {
            **(extra_env or {}),
            **own_env,
            f"{prefix}_DATA_DIR": str(data_dir),
            f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            f"{prefix}_JWT_PUBLIC_KEY_FILE": public_key,
            f"{prefix}_WORKER_WEB_PORT": str(ports.worker[name]),
        }
        if name in database_urls:
            env[f"{prefix}_DATABASE_URL"] = database_urls[name]
        if name == "notifications":
            env.update(_notifications_env(ports, agencies))
        if prefix == "AGENCY":
            # Releases the key of a referral's sealed details when an officer reads it.
            env["AGENCY_CASES_API_URL"] = f"http://127.0.0.1:{ports.api['cases']}"
        api_url = f"http://127.0.0.1:{ports.api[name]}"
        specs.append(
            ProcessSpec(
                name=f"{name}-api",
                argv=[python, "-m", module, "api", "--port", str(ports.api[name])],
                env=env,
                ready_url=f"{api_url}/readyz",
                public_url=f"{api_url}/docs",
            )
        )
        specs.append(
            ProcessSpec(
                name=f"{name}-worker",
                argv=[python, "-m", module, "worker"],
                env=env,
                ready_url=f"http://127.0.0.1:{ports.worker[name]}/readyz",
            )
        )
    specs.append(mail_sink(data_dir, ports, python))
    return specs


def _notifications_env(ports: Ports, agencies: Sequence[str]) -> dict[str, str]:
    """E-mail to the local sink; the web inbox reaches each agency's API."""
    agency_urls = {a: f"http://127.0.0.1:{ports.api[f'agency-{a}']}" for a in agencies}
    return {
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": str(ports.smtp),
        "NOTIFICATIONS_INBOX_URL": f"http://127.0.0.1:{ports.api['notifications']}/inbox",
        "NOTIFICATIONS_AGENCY_API_URLS": json.dumps(agency_urls),
    }


def mail_sink(data_dir: Path, ports: Ports, python: str = sys.executable) -> ProcessSpec:
    """Development SMTP server: every e-mail lands under data/mail and on its web page."""
    web = f"http://127.0.0.1:{ports.mail_web}"
    return ProcessSpec(
        name="mail-sink",
        argv=[
            python,
            "-m",
            "notifications.mailsink",
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
