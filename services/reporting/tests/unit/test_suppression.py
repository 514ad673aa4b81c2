"""Small-cell suppression, checked against tables worked out by hand.

Notation of the expected tables: numbers are shown, "<5" is a primary suppression, "x" a
secondary one; the last column holds row totals, the last row column totals.
"""

from __future__ import annotations

from reporting.domain.suppression import suppress


def shown(cells: list[list[int]], threshold: int = 5) -> list[list[int | str]]:
    table = suppress(cells, threshold)
    return [
        [table.shown(r, c, threshold) for c in range(len(table.counts[0]))]
        for r in range(len(table.counts))
    ]


def test_large_counts_and_zeros_are_shown_as_they_are():
    assert shown([[10, 0], [7, 22]]) == [[10, 0, 10], [7, 22, 29], [17, 22, 39]]


def test_a_small_cell_and_its_complement_in_row_and_column_are_hidden():
    # 3 is hidden; alone in row 0 it could be recovered as 13 - 10, so the smallest other
    # cell of its row (10) goes too; then column 0 (3 and 8) and column 1 (10 and 20)
    # each need a second hidden cell: 8 and 20 — a 2-by-2 rectangle, which no sum reveals.
    assert shown([[3, 10], [8, 20]]) == [
        ["<5", "x", 13],
        ["x", "x", 28],
        [11, 30, 41],
    ]


def test_a_small_row_total_is_itself_hidden_and_protected():
    # Row 0 is 1 + 2 = 3: all three are small. Columns 0 and 1 each need a partner (6, 12),
    # and so does the column of row totals: with 18 shown, 21 - 18 would give back the 3.
    assert shown([[1, 2], [6, 12]]) == [
        ["<5", "<5", "<5"],
        ["x", "x", "x"],
        [7, 14, 21],
    ]


def test_the_protecting_cell_is_the_smallest_inner_cell_not_a_total():
    # 4 in row 0: the candidates are 9 and 30 (inner) and the total 43; 9 is chosen.
    # Column 0 needs a partner for 4 (50 is the only inner one) and column 1 for 9 (60).
    assert shown([[4, 9, 30], [50, 60, 70]]) == [
        ["<5", "x", 30, 43],
        ["x", "x", 70, 180],
        [54, 69, 100, 223],
    ]


def test_no_line_is_left_with_exactly_one_hidden_entry():
    cells = [[1, 0, 6, 9], [0, 3, 7, 11], [5, 8, 2, 40], [12, 15, 16, 17]]
    table = suppress(cells, 5)
    height, width = len(table.counts), len(table.counts[0])
    lines = [[(r, c) for c in range(width)] for r in range(height)]
    lines += [[(r, c) for r in range(height)] for c in range(width)]
    assert all(sum(p in table.hidden for p in line) != 1 for line in lines)
    for r, c in [(0, 0), (1, 1), (2, 2)]:
        assert table.shown(r, c, 5) == "<5"


def test_a_single_column_table_hides_the_matching_total_too():
    assert shown([[2], [9]]) == [["<5", "<5"], ["x", "x"], [11, 11]]


def test_threshold_one_switches_suppression_off():
    assert shown([[1, 2]], threshold=1) == [[1, 2, 3], [1, 2, 3]]


def test_a_table_without_rows_has_zero_totals():
    assert shown_empty() == [[0, 0, 0]]


def shown_empty() -> list[list[int | str]]:
    table = suppress([], 5, columns=2)
    return [[table.shown(0, c, 5) for c in range(3)]]
