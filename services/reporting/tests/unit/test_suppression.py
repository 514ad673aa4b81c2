"""Small-cell suppression, checked against tables worked out by hand.

Notation of the expected tables: numbers are shown, "<5" is a primary suppression, "x" a
secondary one; the last column holds row totals, the last row column totals.
"""

from __future__ import annotations

import random

from reporting.domain.suppression import SuppressedTable, suppress, suppress_together


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


def transposed(cells: list[list[int]]) -> list[list[int]]:
    return [list(column) for column in zip(*cells, strict=True)]


def no_line_has_one_hidden(table: SuppressedTable) -> bool:
    height, width = len(table.counts), len(table.counts[0])
    lines = [[(r, c) for c in range(width)] for r in range(height)]
    lines += [[(r, c) for r in range(height)] for c in range(width)]
    return all(sum(p in table.hidden for p in line) != 1 for line in lines)


def test_the_same_cells_are_hidden_whichever_way_round_the_table_is_asked_for():
    # Province by case type and case type by province are one table: were different cells
    # hidden, a caller could put the two side by side. Asked this way round alone, the
    # search hides 4 entries; the other way round it also hides the second row.
    assert shown([[8, 2], [8, 0]]) == [["x", "<5", 10], ["x", "x", 8], ["x", "<5", 18]]
    assert shown(transposed([[8, 2], [8, 0]])) == transposed(shown([[8, 2], [8, 0]]))
    draw = random.Random(7)
    for _ in range(300):
        height, width = draw.randint(1, 5), draw.randint(1, 5)
        cells = [[draw.choice([0, 0, 1, 3, 4, 6, 9, 25]) for _ in range(width)]
                 for _ in range(height)]  # fmt: skip
        table, flipped = suppress(cells, 5), suppress(transposed(cells), 5)
        assert set(table.hidden) == {(r, c) for c, r in flipped.hidden}
        assert no_line_has_one_hidden(table)


def test_an_entry_another_table_hides_is_hidden_and_protected():
    # Alone, nothing here is small. Another table hides the row total 25 (row 0), so two
    # cells of row 0 go, and with them partners in their columns.
    assert suppress([[10, 15], [20, 30]], 5).hidden == {}
    table = suppress([[10, 15], [20, 30]], 5, also_hidden={(0, 2)})
    assert (0, 2) in table.hidden and no_line_has_one_hidden(table)
    assert {(0, 0), (0, 1)} <= set(table.hidden)


def test_tables_sharing_a_figure_hide_it_wherever_either_hides_it():
    # Table 1 is open referrals of one agency, by state (rows) and province (one column):
    # it hides its 8 and the row total 8 to protect the 3. Table 0 is the same agency by
    # state, where that 8 is a cell: alone it would show it, and 8 - 8 would give back the
    # hidden cell of table 1.
    by_state = [[8, 6, 3]]  # accepted, completed, requested
    open_by_province = [[8], [3]]  # accepted, requested; one province
    alone = suppress(by_state, 5)
    assert (0, 0) not in alone.hidden
    shared = [((0, (0, 0)), (1, (0, 1))), ((0, (0, 2)), (1, (1, 1)))]
    first, second = suppress_together([(by_state, 3), (open_by_province, 1)], 5, shared)
    assert (0, 1) in second.hidden and (0, 0) in first.hidden
    assert set(alone.hidden) <= set(first.hidden)  # never shows what it hides alone
    assert no_line_has_one_hidden(first) and no_line_has_one_hidden(second)
