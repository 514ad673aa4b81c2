"""Small-cell suppression of a two-way table with row, column and grand totals.

Primary: a published count between 1 and `threshold - 1` is hidden (shown as "<5").
Secondary: a hidden cell must never be the only hidden entry of a row or column (totals
included), or subtracting the others from the total would reveal it. While some line has
exactly one hidden entry, hide the smallest other entry of that line (an inner cell rather
than a total, a non-zero one rather than a zero). Zeros are not primary-suppressed: "nobody"
identifies nobody.

The same table asked for the other way round (rows and columns swapped) hides the same
cells: the pattern is the union of the patterns found both ways, and a union of patterns in
which no line has exactly one hidden entry has none either. Tables that publish a figure in
common (one's cell is another's total) are suppressed together, so that a figure hidden in
one is hidden in all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

Position = tuple[int, int]  # (row, column) in the table extended by a total row and column
Entry = tuple[int, Position]  # (which table, position) among tables suppressed together


class Hidden(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


@dataclass(frozen=True)
class SuppressedTable:
    """The extended table: `counts[r][c]` with row totals in the last column and column
    totals (and the grand total) in the last row; `hidden` marks what must not be shown."""

    counts: list[list[int]]
    hidden: dict[Position, Hidden]

    def shown(self, row: int, column: int, threshold: int) -> int | str:
        how = self.hidden.get((row, column))
        if how is Hidden.PRIMARY:
            return f"<{threshold}"
        if how is Hidden.SECONDARY:
            return "x"
        return self.counts[row][column]


def extend_with_totals(cells: Sequence[Sequence[int]], columns: int) -> list[list[int]]:
    rows = [[*row, sum(row)] for row in cells]
    totals = [sum(row[c] for row in rows) for c in range(columns + 1)]
    return [*rows, totals]


def suppress(
    cells: Sequence[Sequence[int]],
    threshold: int,
    columns: int | None = None,
    *,
    also_hidden: Collection[Position] = (),
) -> SuppressedTable:
    """Suppress `cells` (rows by columns, without totals) for publication; `columns` says
    how wide a table without rows is. `also_hidden` are entries of the extended table that
    another published table hides; the result hides them, everything the table hides on its
    own, and what protects both."""
    table = extend_with_totals(cells, len(cells[0]) if cells else columns or 0)
    if threshold <= 1:
        return SuppressedTable(table, {})
    hidden = _both_ways(table, threshold, set())
    if also_hidden:
        for position, how in _both_ways(table, threshold, set(also_hidden)).items():
            hidden.setdefault(position, how)
    return SuppressedTable(table, hidden)


def suppress_together(
    tables: Sequence[tuple[Sequence[Sequence[int]], int]],
    threshold: int,
    shared: Iterable[tuple[Entry, Entry]],
) -> list[SuppressedTable]:
    """Suppress `tables` (each as cells and number of columns) that publish some figures
    twice: `shared` pairs two entries holding the same figure, e.g. a cell of one table
    that is a row total of another. Whatever one hides, every other hides as well, so
    neither can give back what the other withholds."""
    pairs = list(shared)
    forced: list[set[Position]] = [set() for _ in tables]
    while True:
        done = [
            suppress(cells, threshold, columns, also_hidden=forced[t])
            for t, (cells, columns) in enumerate(tables)
        ]
        grown = False
        for first, second in pairs:
            for (a, here), (b, there) in ((first, second), (second, first)):
                if here in done[a].hidden and there not in done[b].hidden:
                    forced[b].add(there)
                    grown = True
        if not grown:  # forced entries only grow, so this ends
            return done


def _both_ways(
    table: list[list[int]], threshold: int, forced: set[Position]
) -> dict[Position, Hidden]:
    hidden = _pattern(table, threshold, forced)
    flipped = _pattern(
        [list(column) for column in zip(*table, strict=True)],
        threshold,
        {(c, r) for r, c in forced},
    )
    for (c, r), how in flipped.items():
        hidden.setdefault((r, c), how)
    return hidden


def _pattern(
    table: list[list[int]], threshold: int, forced: set[Position]
) -> dict[Position, Hidden]:
    hidden: dict[Position, Hidden] = {}
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            if 0 < value < threshold:
                hidden[(r, c)] = Hidden.PRIMARY
    for position in forced:
        hidden.setdefault(position, Hidden.SECONDARY)
    while (line := _line_with_one_hidden(table, hidden)) is not None:
        candidates = [p for p in line if p not in hidden]
        if not candidates:
            break  # cannot happen: a line with one hidden entry has others
        hidden[min(candidates, key=lambda p: _cost(table, p))] = Hidden.SECONDARY
    return hidden


def _lines(table: list[list[int]]) -> list[list[Position]]:
    height, width = len(table), len(table[0])
    rows = [[(r, c) for c in range(width)] for r in range(height)]
    columns = [[(r, c) for r in range(height)] for c in range(width)]
    return rows + columns


def _line_with_one_hidden(
    table: list[list[int]], hidden: dict[Position, Hidden]
) -> list[Position] | None:
    for line in _lines(table):
        # A line of one entry (a table with a single row or column) is its own total.
        if len(line) > 1 and sum(p in hidden for p in line) == 1:
            return line
    return None


def _cost(table: list[list[int]], position: Position) -> tuple[bool, bool, int, Position]:
    r, c = position
    is_total = r == len(table) - 1 or c == len(table[0]) - 1
    value = table[r][c]
    return (is_total, value == 0, value, position)
