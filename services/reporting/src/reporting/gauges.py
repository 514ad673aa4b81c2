"""Business gauges for Prometheus, read from the reporting store at scrape time.

Counters reset on restart; these gauges come from the durable store, so they do not. Labels
are bounded: case type, province, agency, state — never a case or a person.

`/metrics` is scraped without authentication, so it never carries a small cell: every
gauge is a two-way table suppressed like the report API's tables for a caller without the
`statistician` role (`domain/suppression.py`, same threshold). A hidden cell is not
exported at all, rather than under a coarser label: a coarser series would itself be a
count (possibly 1-4) and would publish exactly the totals secondary suppression hides.
`lienganh_report_referrals` holds the row totals of `lienganh_report_referrals_open`, so
the two are suppressed together. `lienganh_report_suppressed_cells{report}` says how many
cells each gauge withholds. Exact counts come from the report API, to statisticians.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.engine import Engine

from contracts.referrals.lifecycle import OPEN_STATES
from reporting import queries
from reporting.domain.suppression import Entry, SuppressedTable, suppress, suppress_together

_OPEN = sorted(state.value for state in OPEN_STATES)

Labels = tuple[str, ...]
Count = tuple[Labels, Labels, int]  # row labels, column labels, count


@dataclass(frozen=True)
class ReportFacts:
    """What the gauges count, read in one go from the store."""

    cases: list[tuple[str, str, int]]  # case type, province
    referrals: list[tuple[str, str, str, int]]  # agency, state, province (every state)
    overdue: list[tuple[str, str, int]]  # agency, province
    escalations: list[tuple[str, str, int]]  # agency, province


@dataclass(frozen=True)
class Gauge:
    """One `lienganh_report_*` family as it may be scraped: only the cells left shown."""

    report: str
    documentation: str
    labels: list[str]
    samples: list[tuple[Labels, int]]
    suppressed_cells: int

    @property
    def name(self) -> str:
        return f"lienganh_report_{self.report}"


@dataclass(frozen=True)
class _Grid:
    rows: list[Labels]
    columns: list[Labels]
    cells: list[list[int]]

    def table(self) -> tuple[list[list[int]], int]:
        return self.cells, len(self.columns)


def _grid(counts: Iterable[Count]) -> _Grid:
    index: dict[tuple[Labels, Labels], int] = {}
    for row, column, n in counts:
        index[(row, column)] = index.get((row, column), 0) + n
    rows = sorted({r for r, _ in index})
    columns = sorted({c for _, c in index})
    return _Grid(rows, columns, [[index.get((r, c), 0) for c in columns] for r in rows])


def _gauge(
    report: str, documentation: str, labels: list[str], grid: _Grid, suppressed: SuppressedTable
) -> Gauge:
    shown, withheld = [], 0
    for r, row in enumerate(grid.rows):
        for c, column in enumerate(grid.columns):
            if (r, c) in suppressed.hidden:
                withheld += 1
            elif grid.cells[r][c]:
                shown.append(((*row, *column), grid.cells[r][c]))
    return Gauge(report, documentation, labels, shown, withheld)


def report_gauges(facts: ReportFacts, threshold: int) -> list[Gauge]:
    """The gauges as they may be exported: every table suppressed at `threshold`."""
    cases = _grid(((t,), (p,), n) for t, p, n in facts.cases)
    referrals = _grid(((a,), (s,), n) for a, s, _, n in facts.referrals)
    open_ = _grid(((a, s), (p,), n) for a, s, p, n in facts.referrals if s in _OPEN)
    overdue = _grid(((a,), (p,), n) for a, p, n in facts.overdue)
    escalations = _grid(((a,), (p,), n) for a, p, n in facts.escalations)

    # Summed over provinces, an open row (agency, state) is a cell of the referrals gauge.
    width = len(open_.columns)
    shared: list[tuple[Entry, Entry]] = [
        ((0, (referrals.rows.index((a,)), referrals.columns.index((s,)))), (1, (r, width)))
        for r, (a, s) in enumerate(open_.rows)
    ]
    referrals_hidden, open_hidden = suppress_together(
        [referrals.table(), open_.table()], threshold, shared
    )

    def alone(grid: _Grid) -> SuppressedTable:
        return suppress(grid.cells, threshold, columns=len(grid.columns))

    return [
        _gauge("cases", "Cases recorded (merged duplicates once), by case type and province.",
               ["case_type", "province"], cases, alone(cases)),
        _gauge("referrals", "Referrals by agency and current state (all states).",
               ["agency", "state"], referrals, referrals_hidden),
        _gauge("referrals_open", "Open referrals by agency, current state and province.",
               ["agency", "state", "province"], open_, open_hidden),
        _gauge("referrals_overdue", "Open referrals past the deadline of their current state.",
               ["agency", "province"], overdue, alone(overdue)),
        _gauge("escalations",
               "Referral escalations (deadline breaches, reminders not counted) ever recorded.",
               ["agency", "province"], escalations, alone(escalations)),
    ]  # fmt: skip


def families(gauges: Sequence[Gauge]) -> Iterator[GaugeMetricFamily]:
    for gauge in gauges:
        family = GaugeMetricFamily(
            gauge.name, f"{gauge.documentation} Small cells are not exported.", labels=gauge.labels
        )
        for labels, value in gauge.samples:
            family.add_metric(list(labels), value)
        yield family
    withheld = GaugeMetricFamily(
        "lienganh_report_suppressed_cells",
        "Cells of each lienganh_report_* gauge not exported: small counts and those protecting "
        "them (exact figures: the report API, role statistician).",
        labels=["report"],
    )
    for gauge in gauges:
        withheld.add_metric([gauge.report], gauge.suppressed_cells)
    yield withheld


class ReportGauges(Collector):
    def __init__(
        self,
        engine: Engine,
        threshold: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._engine = engine
        self._threshold = threshold
        self._now = now

    def facts(self) -> ReportFacts:
        case_table = queries.case_table(
            self._engine,
            queries.CaseDimension.CASE_TYPE,
            queries.CaseDimension.PROVINCE,
            queries.Filters(),
        )
        return ReportFacts(
            cases=[
                (case_type, province, case_table.cells[r][c])
                for r, case_type in enumerate(case_table.row_labels)
                for c, province in enumerate(case_table.column_labels)
            ],
            referrals=queries.referral_counts(self._engine),
            overdue=queries.overdue_referrals(self._engine, _OPEN, self._now()),
            escalations=queries.escalation_counts(self._engine),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from families(report_gauges(self.facts(), self._threshold))


_installed: list[ReportGauges] = []


def install(engine: Engine, threshold: int) -> None:
    """Register once per process (a second app in the same process replaces the first)."""
    while _installed:
        REGISTRY.unregister(_installed.pop())
    gauges = ReportGauges(engine, threshold)
    REGISTRY.register(gauges)
    _installed.append(gauges)
