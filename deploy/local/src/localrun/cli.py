"""`lienganh`: the developer's command line for the local system."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from chassis.sealing import PrivateOpener
    from localrun.dead_letters import DeadLetter

from contracts.topics import DAY_MS, DEFAULT_AGENCIES, declared_topics, dlq_topic

app = typer.Typer(help="Liên Ngành local tools: broker, topics, tokens, the whole system.")
dlq = typer.Typer(help="Dead letters: list, show (redacted) and replay after a fix.")
app.add_typer(dlq, name="dlq")
console = Console()
DataDir = Annotated[Path, typer.Option(help="Folder for SQLite files, keys, logs and Kafka.")]
Bootstrap = Annotated[str, typer.Option(help="Kafka bootstrap servers.")]
DeadLetterKey = Annotated[
    Path | None,
    typer.Option(help="Operators' dead-letter private key set (DATA_DIR/keys/… when unset)."),
]


def _agencies(value: str) -> tuple[str, ...]:
    return tuple(code.strip() for code in value.split(",") if code.strip())


@app.command()
def run(
    data_dir: DataDir = Path("data"),
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES), help="Agency deployments."),
    layout: str = typer.Option(
        "combined",
        help="combined: each service's API and worker in one process (~85 MiB less a "
        "service); separate: apart, as containers run them.",
    ),
) -> None:
    """Start Kafka, create the topics, start every service, print the URLs; Ctrl-C stops all."""
    from localrun.run import run_system
    from localrun.system import LAYOUTS

    chosen = next((known for known in LAYOUTS if known == layout), None)
    if chosen is None:
        raise typer.BadParameter(f"{layout!r}: one of {', '.join(LAYOUTS)}", param_hint="--layout")
    logging.basicConfig(level=logging.WARNING)
    run_system(data_dir, _agencies(agencies), console, chosen)


@app.command("kafka-jars")
def kafka_jars() -> None:
    """Fetch the Apache Kafka jars from Maven Central (cached by the pom's hash), and archive
    their classes once so every broker starts faster."""
    from localrun.kafka import ensure_class_archive, ensure_kafka_jars

    with console.status("Fetching Apache Kafka jars from Maven Central…"):
        libs = ensure_kafka_jars()
    console.print(f"Kafka jars in {libs}")
    with console.status("Archiving Kafka's classes (one training start of a broker)…"):
        archive = ensure_class_archive(libs)
    console.print(f"Class archive: {archive or 'none (the broker starts without one)'}")


@app.command()
def topics(
    bootstrap: str = typer.Option("127.0.0.1:9092", help="Kafka bootstrap servers."),
    partitions: int = typer.Option(6, min=1),
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES)),
    dead_letter_retention_days: float = typer.Option(
        14, min=0.01, help="How long dead letters are kept (applied to existing topics too)."
    ),
) -> None:
    """Create every declared topic (idempotent) before any worker starts."""
    from localrun.topics import create_topics

    declared = declared_topics(
        _agencies(agencies), partitions, int(dead_letter_retention_days * DAY_MS)
    )
    created = create_topics(bootstrap, declared)
    console.print(f"{len(created)} topic(s) created; all declared topics present.")


@app.command()
def migrate(
    data_dir: DataDir = Path("data"),
    service: list[str] = typer.Option(
        [], help="Instance(s) to migrate: cases, agency-police, …; every one when unset."
    ),
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES), help="Agency deployments."),
) -> None:
    """Bring each service's database to its newest schema revision, with `make run`'s
    settings (SQLite files under DATA_DIR): `python -m <service> migrate` per instance.
    Every process also migrates its own database at start; this does it ahead of them."""
    import subprocess

    from rich.progress import Progress, SpinnerColumn, TextColumn

    from localrun.system import Ports, store_migrations, system_processes

    deployed = _agencies(agencies)
    specs = system_processes(
        data_dir=data_dir.resolve(),
        bootstrap_servers="127.0.0.1:9092",  # unused: migrating needs the database only
        ports=Ports.fixed(deployed),
        agencies=deployed,
    )
    instances = {migration.instance: migration for migration in store_migrations(specs)}
    unknown = sorted(set(service) - set(instances))
    if unknown:
        raise typer.BadParameter(f"no instance {unknown}; known: {sorted(instances)}")
    chosen = [name for name in instances if not service or name in service]
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as bar:
        task = bar.add_task("", total=len(chosen))
        for name in chosen:
            bar.update(task, description=f"Migrating {name}…")
            migration = instances[name]
            done = subprocess.run(
                migration.argv, env=migration.env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                console.print(f"[red]✗ {name}[/red]\n{done.stderr[-4000:]}")
                raise typer.Exit(1)
            said = done.stdout.strip().splitlines()[-1].partition(": ")[2]
            bar.console.print(f"[green]✓[/green] {name}: {said}")
            bar.advance(task)


@app.command()
def status(
    bootstrap: str = typer.Option("127.0.0.1:9092", help="Kafka bootstrap servers."),
    group: list[str] = typer.Option([], help="Consumer group(s); every group when unset."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Per consumer group and partition: committed offset, end offset and lag (a partition
    with no committed offset counts everything still in the log)."""
    import json

    from localrun.status import consumer_status, status_table

    rows = consumer_status(bootstrap, group)
    if as_json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
    elif rows:
        console.print(status_table(rows))
    else:
        console.print("no consumer groups")


def _dead_letter_topics(agencies: str) -> list[str]:
    return [t.name for t in declared_topics(_agencies(agencies)) if t.name.endswith(".dlq")]


def _opener(data_dir: Path, key_file: Path | None) -> PrivateOpener:
    from chassis.dead_letters import default_private_path
    from chassis.keypairs import load_opener

    return load_opener(key_file or default_private_path(data_dir))


@dlq.command("list")
def dlq_list(
    bootstrap: Bootstrap = "127.0.0.1:9092",
    topic: Annotated[
        str | None, typer.Option(help="One consumed topic, e.g. cases.events.v1.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES)),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every dead letter: where it came from, why, and when (never its content)."""
    import json

    from rich.table import Table

    from localrun import dead_letters

    topics = [dlq_topic(topic)] if topic else _dead_letter_topics(agencies)
    letters = [d for d in dead_letters.read(bootstrap, topics) if not reason or d.reason == reason]
    if as_json:
        for letter in letters:
            print(json.dumps({"ref": letter.ref, **letter.summary()}, ensure_ascii=False))
        return
    table = Table("ref", "reason", "type", "failed at", "error", title="dead letters")
    for letter in letters:
        summary = letter.summary()
        table.add_row(
            letter.ref,
            summary["reason"],
            summary["type"] or "?",
            summary["failed_at"][:19],
            summary["error"][:80],
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq.command("show")
def dlq_show(
    ref: Annotated[str, typer.Argument(help="<dlq topic>:<partition>:<offset>, from `list`.")],
    bootstrap: Bootstrap = "127.0.0.1:9092",
    data_dir: DataDir = Path("data"),
    key_file: DeadLetterKey = None,
) -> None:
    """One dead letter, its value opened and printed with identity redacted."""
    from localrun import dead_letters

    letter = _find(bootstrap, ref)
    for name, value in letter.headers:
        console.print(f"{name}: {value.decode('utf-8', errors='replace')}", markup=False)
    opened = letter.original_value(_opener(data_dir, key_file))
    console.print(dead_letters.redacted(opened), markup=False)


@dlq.command("replay")
def dlq_replay(
    refs: Annotated[list[str] | None, typer.Argument(help="Refs from `list`.")] = None,
    operator: Annotated[str, typer.Option(help="Who replays (recorded in the audit).")] = "",
    reason: Annotated[
        str | None, typer.Option(help="Replay every letter with this reason.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="…of this consumed topic only.")] = None,
    bootstrap: Bootstrap = "127.0.0.1:9092",
    data_dir: DataDir = Path("data"),
    key_file: DeadLetterKey = None,
    agencies: str = typer.Option(",".join(DEFAULT_AGENCIES)),
) -> None:
    """Put dead letters back on their topic after a fix (audited); consumers skip any they
    already applied, by event id."""
    from localrun import dead_letters

    if not operator:
        raise typer.BadParameter("--operator is required: replays are audited")
    if refs:
        letters = [_find(bootstrap, ref) for ref in refs]
    elif reason:
        topics = [dlq_topic(topic)] if topic else _dead_letter_topics(agencies)
        letters = [d for d in dead_letters.read(bootstrap, topics) if d.reason == reason]
    else:
        raise typer.BadParameter("name the refs to replay, or --reason")
    opener = _opener(data_dir, key_file)
    count = dead_letters.replay(bootstrap, letters, opener, operator=operator)
    console.print(f"{count} dead letter(s) replayed")


def _find(bootstrap: str, ref: str) -> DeadLetter:
    from localrun import dead_letters

    topic, _, rest = ref.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    if not topic.endswith(".dlq") or not partition.isdigit() or not rest.isdigit():
        raise typer.BadParameter(f"{ref!r} is not <dlq topic>:<partition>:<offset>")
    for letter in dead_letters.read(bootstrap, [topic]):
        if letter.partition == int(partition) and letter.offset == int(rest):
            return letter
    raise typer.BadParameter(f"no dead letter {ref}")


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
def keypair(
    private_file: Path = typer.Option(..., help="The private key set (JSON) to create."),
    public_file: Path | None = typer.Option(None, help="Its public half (beside it if unset)."),
    rotate: bool = typer.Option(False, help="Add a fresh pair and make it the active one."),
) -> None:
    """Create a sealing key pair if missing (the cases intake pair, the operators'
    dead-letter pair), or rotate it; print the active key id and the public file."""
    from chassis.keypairs import active_key_id, add_keypair, load_or_create_keypair, public_path_for

    public = public_file or public_path_for(private_file)
    if rotate:
        add_keypair(private_file, public)
    else:
        load_or_create_keypair(private_file, public)
    print(active_key_id(private_file), public)


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
