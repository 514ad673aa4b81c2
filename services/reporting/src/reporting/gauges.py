"""Business gauges for Prometheus, read from the reporting store at scrape time.

Counters reset on restart; these gauges come from the durable store, so they do not. Exact
figures for programme managers still come from the report API. Labels are bounded: case
type, province, agency, state — never a case or a person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.engine import Engine

from contracts.referrals.lifecycle import OPEN_STATES
from reporting import queries

_OPEN = sorted(state.value for state in OPEN_STATES)


class ReportGauges(Collector):
    def __init__(self, engine: Engine, now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._engine = engine
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        cases = GaugeMetricFamily(
            "lienganh_report_cases",
            "Cases recorded (merged duplicates once), by case type and province.",
            labels=["case_type", "province"],
        )
        for case_type, province, count in queries.case_counts(self._engine):
            cases.add_metric([case_type, province], count)
        yield cases

        by_state = GaugeMetricFamily(
            "lienganh_report_referrals",
            "Referrals by agency and current state (all states).",
            labels=["agency", "state"],
        )
        table = queries.referral_table(
            self._engine,
            queries.ReferralDimension.AGENCY,
            queries.ReferralDimension.STATE,
            queries.Filters(),
        )
        for r, agency in enumerate(table.row_labels):
            for c, state in enumerate(table.column_labels):
                if table.cells[r][c]:
                    by_state.add_metric([agency, state], table.cells[r][c])
        yield by_state

        open_ = GaugeMetricFamily(
            "lienganh_report_referrals_open",
            "Open referrals by agency, current state and province.",
            labels=["agency", "state", "province"],
        )
        for agency, state, province, count in queries.open_referrals(self._engine, _OPEN):
            open_.add_metric([agency, state, province], count)
        yield open_

        overdue = GaugeMetricFamily(
            "lienganh_report_referrals_overdue",
            "Open referrals past the deadline of their current state.",
            labels=["agency", "province"],
        )
        for agency, province, count in queries.overdue_referrals(self._engine, _OPEN, self._now()):
            overdue.add_metric([agency, province], count)
        yield overdue

        escalations = GaugeMetricFamily(
            "lienganh_report_escalations",
            "Referral escalations (deadline breaches, reminders not counted) ever recorded.",
            labels=["agency", "province"],
        )
        for agency, province, count in queries.escalation_counts(self._engine):
            escalations.add_metric([agency, province], count)
        yield escalations


_installed: list[ReportGauges] = []


def install(engine: Engine) -> None:
    """Register once per process (a second app in the same process replaces the first)."""
    while _installed:
        REGISTRY.unregister(_installed.pop())
    gauges = ReportGauges(engine)
    REGISTRY.register(gauges)
    _installed.append(gauges)
