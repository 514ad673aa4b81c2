"""`lienganh`: the developer's command line for the local system."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from contracts.topics import DEFAULT_AGENCIES, declared_topics

app = typer.Typer(help="Liên Ngành local tools: broker, topics, tokens, the whole system.")
console = Console()
DataDir = Annotated[Path, typer.Option(help="Folder for SQLite files, keys, logs and Kafka.")]


def _agencies(value: str) -> tuple[str, ...]:
    return tuple(code.strip() for code in value.split(",") if code.strip())


@app.command()
def run(
    data_dir: DataDir = Path("data"),
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES), help="Agency deployments."),
) -> None:
    """Start Kafka, create the topics, start every service, print the URLs; Ctrl-C stops all."""
    from localrun.run import run_system

    logging.basicConfig(level=logging.WARNING)
    run_system(data_dir, _agencies(agencies), console)


@app.command("kafka-jars")
def kafka_jars() -> None:
    """Fetch the Apache Kafka jars from Maven Central (cached by the pom's hash)."""
    from localrun.kafka import ensure_kafka_jars

    with console.status("Fetching Apache Kafka jars from Maven Central…"):
        libs = ensure_kafka_jars()
    console.print(f"Kafka jars in {libs}")


@app.command()
def topics(
    bootstrap: str = typer.Option("127.0.0.1:9092", help="Kafka bootstrap servers."),
    partitions: int = typer.Option(6, min=1),
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES)),
) -> None:
    """Create every declared topic (idempotent) before any worker starts."""
    from localrun.topics import create_topics

    created = create_topics(bootstrap, declared_topics(_agencies(agencies), partitions))
    console.print(f"{len(created)} topic(s) created; all declared topics present.")


@app.command()
def keys(data_dir: DataDir = Path("data")) -> None:
    """Create the local issuer's key pair under DATA_DIR/keys if missing (containers run this
    once before the services start); print the public key's path."""
    from chassis.auth import LocalIssuer

    issuer = LocalIssuer(data_dir / "keys")
    issuer.public_key_pem()
    print(issuer.key_dir / "jwt-public.pem")


@app.command()
def keyring(
    file: Path = typer.Option(..., help="The cases service's AES-GCM keyring (JSON)."),
    rotate: bool = typer.Option(False, help="Add a fresh key and make it the active one."),
) -> None:
    """Create the identity-field keyring if missing, or rotate it; print the active key id.

    Old keys stay in the file so existing records still open; load the file into the
    `cases-keyring` Secret (Kubernetes) and restart the cases processes.
    """
    from chassis.crypto import add_key, load_or_create_keyring

    print(add_key(file) if rotate else load_or_create_keyring(file).active_key_id)


@app.command()
def token(
    subject: str = typer.Option(..., help="Officer id, e.g. police-inspector-hn-01."),
    agency: str = typer.Option(..., help="Agency code, e.g. police."),
    role: list[str] = typer.Option(..., help="Role(s): intake, inspector, case_worker, …"),
    province: list[str] = typer.Option(..., help="Province code(s), e.g. 01; * for all."),
    ttl: int = typer.Option(8 * 3600, help="Lifetime in seconds."),
    data_dir: DataDir = Path("data"),
) -> None:
    """Mint a development token with the local issuer (its key pair is made on first use)."""
    from chassis.auth import LocalIssuer

    print(LocalIssuer(data_dir / "keys").mint(subject, agency, role, province, ttl_s=ttl))
