"""Operator commands of the cases service: `python -m cases rotate-keys | erase-identity |
intake-keys | import | seed`.

They run beside the API and worker, against the same database and keyring (same `CASES_*`
settings); events they stage in the outbox are relayed by the running worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cases import bulk_import, handlers, intake_keys, rotation, seed
from cases.adapters import audit
from cases.adapters.store import SqlStore
from cases.bootstrap import SERVICE, TABLES, case_deps
from cases.config import CasesSettings
from cases.handlers import erasure
from chassis.auth import LocalIssuer, Principal
from chassis.runtime import open_service
from chassis.unit_of_work import unit_of_work
from contracts.vocabulary import AuditAction

app = typer.Typer(help="Operator commands of the cases service.", no_args_is_help=True)
intake = typer.Typer(help="The intake key pair agencies seal case reports to.")
app.add_typer(intake, name="intake-keys")
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


@app.command("rotate-keys")
def rotate_keys(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    resume: Annotated[
        bool, typer.Option(help="Finish an interrupted rotation without adding a key.")
    ] = False,
) -> None:
    """Add a new identity key and re-seal every case under it, in small batches."""
    settings = CasesSettings()
    engine = open_service(settings, SERVICE, TABLES)
    keyring = settings.keyring_path()
    total = rotation.rows_to_rotate(engine, "")  # every sealed row is under an old key
    with _progress() as progress:
        task = progress.add_task("re-sealing cases", total=total)
        report = rotation.rotate_identity_keys(
            engine,
            keyring,
            batch_size=batch_size,
            new_key=not resume,
            on_batch=lambda done: progress.advance(task, done),
        )
    console.print(
        f"active key {report.key_id}: {report.keys_rewrapped} data key(s) re-wrapped, "
        f"{report.cases_moved_to_own_key} older case(s) moved under a data key of their own"
    )


@app.command("erase-identity")
def erase_identity(
    case_id: Annotated[str, typer.Argument(help="The case whose child's identity is erased.")],
    operator: Annotated[str, typer.Option(help="Subject recorded in the audit trail.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase one child's identity everywhere by destroying its case key (crypto-shredding).

    Cases merged with it (the same child) are erased too. Facts and counts stay.
    """
    settings = CasesSettings()
    engine = open_service(settings, SERVICE, TABLES)
    if not yes:
        typer.confirm(f"Erase the identity of case {case_id} for good?", abort=True)
    principal = Principal(
        operator, settings.owner_agency, frozenset({"operator"}), frozenset({"*"})
    )
    try:
        with unit_of_work(engine, source="/cases") as uow:
            store = SqlStore(uow)
            result = erasure.erase_identity(store, case_id, actor=operator, now=datetime.now(UTC))
            for erased in result.case_ids:
                audit.record_access(
                    uow,
                    principal,
                    AuditAction.ERASE,
                    "case_identity",
                    erased,
                    detail="identity erased: case data key destroyed",
                )
    except handlers.CaseNotFound:
        console.print(f"no case {case_id}")
        raise typer.Exit(1) from None
    for erased in result.case_ids:
        console.print(f"erased: case {erased} (its data key is destroyed)")
    for skipped in result.already_erased:
        console.print(f"already erased: case {skipped}")
    if result.intake_keys:
        console.print(
            "its agency report on Kafka is sealed to intake key(s) "
            f"{', '.join(result.intake_keys)}: run `intake-keys rotate`, then `intake-keys "
            "retire` once the worker has caught up, to shred that copy too"
        )


@intake.command("rotate")
def rotate_intake_key() -> None:
    """Add an intake key pair and make it the one agencies seal to."""
    settings = CasesSettings()
    console.print(f"active intake key {intake_keys.rotate(settings.intake_keys_path())}")


@intake.command("retire")
def retire_intake_keys(
    force: Annotated[bool, typer.Option(help="Skip the check that no report is unread.")] = False,
) -> None:
    """Delete every intake private key but the active one (shreds reports sealed to them)."""
    settings = CasesSettings()
    try:
        active, retired = intake_keys.retire(
            settings.intake_keys_path(),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            agencies=settings.reporting_agencies,
            force=force,
        )
    except intake_keys.ReportsStillUnread as error:
        console.print(str(error))
        raise typer.Exit(1) from None
    console.print(f"active intake key {active}; retired: {', '.join(retired) or 'none'}")


@app.command("import")
def import_profiles(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".csv or .xlsx")],
    operator: Annotated[str, typer.Option(help="Subject recorded as reporter and in the audit.")],
    agency: Annotated[str, typer.Option(help="The operator's agency.")] = "dolisa",
    province: Annotated[
        list[str], typer.Option(help="Provinces the operator may import for (or *).")
    ] = ["*"],  # noqa: B006 - typer reads the default, it is never mutated
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes importing batches side by side: each prepares one (checks, "
            "sealing), then writes it when its turn comes, in file order. "
            "More than 1 only on a machine with cores to spare: beside the running system "
            "they take its CPU.",
        ),
    ] = 1,
) -> None:
    """Import a beneficiary profile list; each row is atomic and a re-run adds nothing."""
    settings = CasesSettings()
    engine = open_service(settings, SERVICE, TABLES)
    principal = Principal(operator, agency, frozenset({"intake"}), frozenset(province))
    rows = sum(1 for _ in bulk_import.read_rows(file))
    with _progress() as progress:
        task = progress.add_task(f"importing {file.name}", total=rows)
        report = bulk_import.import_file(
            file,
            engine,
            case_deps(settings),
            operator=principal,
            on_row=lambda: progress.advance(task),
            jobs=jobs,
        )
    if report.errors:
        table = Table("row", "field", "message", title="rows not imported")
        for error in report.errors:
            table.add_row(str(error.row), error.field, error.message)
        Console().print(table)
    console.print(
        f"{report.imported} imported, {report.skipped} already imported, "
        f"{len({e.row for e in report.errors})} row(s) with errors"
    )
    raise typer.Exit(1 if report.errors else 0)


@app.command("seed")
def seed_demo(
    url: Annotated[str, typer.Option(help="Base URL of the cases API.")] = "http://127.0.0.1:8001",
    count: Annotated[int, typer.Option(min=1)] = 60,
    random_seed: Annotated[int, typer.Option("--seed")] = 2026,
    key_dir: Annotated[Path, typer.Option(help="Local issuer's key folder.")] = Path("data/keys"),
) -> None:
    """Post synthetic reports through the API (local issuer token, national intake role)."""
    token = LocalIssuer(key_dir).mint(seed.DEMO_SUBJECT, "hotline_111", ["intake"], ["*"])
    with _progress() as progress:
        task = progress.add_task("seeding cases", total=count)
        accepted = seed.post_reports(
            url, token, count=count, seed=random_seed, on_report=lambda: progress.advance(task)
        )
    console.print(f"{accepted} synthetic case(s) reported")
