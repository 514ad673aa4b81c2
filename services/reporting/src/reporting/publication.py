"""A count table as it may be shown to a caller: suppressed unless the caller may see exact
counts (`domain/disclosure.py`), rendered as JSON, CSV or XLSX."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from pydantic import BaseModel, Field

from reporting.domain.suppression import suppress
from reporting.queries import CountTable

Cell = int | str


class PublishedTable(BaseModel):
    rows: str = Field(description="Dimension of the rows.")
    columns: str = Field(description="Dimension of the columns.")
    row_labels: list[str]
    column_labels: list[str]
    cells: list[list[Cell]] = Field(description='Counts; "<5" hides 1-4, "x" protects one.')
    row_totals: list[Cell]
    column_totals: list[Cell]
    total: Cell
    suppressed: bool = Field(description="Whether small-cell suppression was applied.")
    threshold: int = Field(description="Counts below this (and above 0) are hidden.")


def publish(table: CountTable, *, threshold: int, suppressed: bool) -> PublishedTable:
    extended = suppress(
        table.cells, threshold if suppressed else 0, columns=len(table.column_labels)
    )
    height, width = len(table.row_labels), len(table.column_labels)

    def shown(r: int, c: int) -> Cell:
        return extended.shown(r, c, threshold)

    return PublishedTable(
        rows=table.row_dimension,
        columns=table.column_dimension,
        row_labels=table.row_labels,
        column_labels=table.column_labels,
        cells=[[shown(r, c) for c in range(width)] for r in range(height)],
        row_totals=[shown(r, width) for r in range(height)],
        column_totals=[shown(height, c) for c in range(width)],
        total=shown(height, width),
        suppressed=suppressed,
        threshold=threshold,
    )


def _grid(table: PublishedTable) -> list[list[Cell]]:
    header: list[Cell] = [f"{table.rows} \\ {table.columns}", *table.column_labels, "total"]
    body: list[list[Cell]] = [
        [label, *cells, total]
        for label, cells, total in zip(table.row_labels, table.cells, table.row_totals, strict=True)
    ]
    return [header, *body, ["total", *table.column_totals, table.total]]


def to_csv(table: PublishedTable) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(_grid(table))
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read Vietnamese right


def to_xlsx(table: PublishedTable, title: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]  # Excel's limit
    for row in _grid(table):
        sheet.append(row)
    if table.suppressed:
        sheet.append([])
        sheet.append(
            [
                f'"<{table.threshold}" hides counts 1-{table.threshold - 1}; "x" hides a '
                "count that would reveal one (secondary suppression)."
            ]
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
