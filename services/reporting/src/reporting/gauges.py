"""Business gauges for Prometheus, read from the aggregates at scrape time.

Counters reset on restart; these gauges come from the durable store, so they do not.
Labels are bounded: case type, province, agency, state — never a case or a person.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.engine import Engine

from reporting.queries import summary


class ReportGauges(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = summary(self._engine)
        cases = GaugeMetricFamily(
            "lienganh_report_cases",
            "Cases recorded, by case type and province.",
            labels=["case_type", "province"],
        )
        for row in report.cases:
            cases.add_metric([row.case_type, row.province_code], row.count)
        referrals = GaugeMetricFamily(
            "lienganh_report_referrals",
            "Referrals by agency and current state.",
            labels=["agency", "state"],
        )
        for ref in report.referrals:
            referrals.add_metric([ref.agency, ref.state], ref.count)
        yield cases
        yield referrals


_installed: list[ReportGauges] = []


def install(engine: Engine) -> None:
    """Register once per process (a second app in the same process replaces the first)."""
    while _installed:
        REGISTRY.unregister(_installed.pop())
    gauges = ReportGauges(engine)
    REGISTRY.register(gauges)
    _installed.append(gauges)
