"""`lienganh-report`: a report from the report API as a table, and as CSV/XLSX files.

It goes through the API, not the database, so the caller's token decides what is
suppressed and every file written is an audited export.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Aggregated reports of Liên Ngành (counts only, small cells suppressed).")

# Tests swap this for an in-process client of the API.
ClientFactory = Callable[[str, str], httpx.Client]


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


client_factory: ClientFactory = _client

UrlOption = Annotated[str, typer.Option(envvar="LIENGANH_REPORTING_URL", help="Report API.")]
TokenOption = Annotated[
    str, typer.Option(envvar="LIENGANH_TOKEN", help="Bearer token (lienganh token …).")
]


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> httpx.Response:
    response = client.get(path, params={k: v for k, v in params.items() if v is not None})
    if response.status_code != 200:
        raise typer.BadParameter(f"{response.status_code}: {response.text[:500]}")
    return response


def _print(body: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{body['rows']} by {body['columns']}")
    table.add_column(body["rows"])
    for label in body["column_labels"]:
        table.add_column(label, justify="right")
    table.add_column("total", justify="right", style="bold")
    for label, cells, total in zip(
        body["row_labels"], body["cells"], body["row_totals"], strict=True
    ):
        table.add_row(label, *map(str, cells), str(total))
    table.add_row("total", *map(str, body["column_totals"]), str(body["total"]), style="bold")
    console.print(table)
    if body["suppressed"]:
        console.print(f'"<{body["threshold"]}" hides small counts; "x" protects one of them.')


def _report(
    kind: str, url: str, token: str, params: dict[str, Any], csv: Path | None, xlsx: Path | None
) -> None:
    console = Console()
    with client_factory(url, token) as client:
        _print(_get(client, f"/reports/{kind}", params).json(), console)
        for path, export in ((csv, "csv"), (xlsx, "xlsx")):
            if path is not None:
                path.write_bytes(
                    _get(client, f"/reports/{kind}", params | {"format": export}).content
                )
                console.print(f"wrote {path}")


@app.command()
def cases(
    url: UrlOption = "http://127.0.0.1:8004",
    token: TokenOption = "",
    rows: str = "province",
    columns: str = "case_type",
    period: str = "month",
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    province: str | None = None,
    case_type: str | None = None,
    channel: str | None = None,
    csv: Path | None = None,
    xlsx: Path | None = None,
) -> None:
    """Cases by two dimensions: period, province, case_type, channel, sex, age_band, risk."""
    params = {
        "rows": rows, "columns": columns, "period": period, "from": date_from, "to": date_to,
        "province": province, "case_type": case_type, "channel": channel,
    }  # fmt: skip
    _report("cases", url, token, params, csv, xlsx)


@app.command()
def referrals(
    url: UrlOption = "http://127.0.0.1:8004",
    token: TokenOption = "",
    rows: str = "agency",
    columns: str = "state",
    province: str | None = None,
    case_type: str | None = None,
    csv: Path | None = None,
    xlsx: Path | None = None,
) -> None:
    """Referrals by two dimensions: agency, state, province, case_type."""
    params = {"rows": rows, "columns": columns, "province": province, "case_type": case_type}
    _report("referrals", url, token, params, csv, xlsx)


def main() -> None:
    app(prog_name=os.path.basename("lienganh-report"))
