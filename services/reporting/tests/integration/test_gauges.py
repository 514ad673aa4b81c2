"""Business gauges read from the store: open, overdue, escalations, cases — bounded labels."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from contracts.vocabulary import ReferralState as S
from reporting.gauges import ReportGauges
from services.reporting.tests.events import case, escalated, merged, referral
from services.reporting.tests.store import Store
from tests.support.system import metric_value


def test_gauges_from_the_store(store: Store):
    store.feed(
        [
            case("a"),
            case("b"),
            merged("a", "b"),
            referral("p1", "a", S.REQUESTED, 1, "2026-11-02 08:16", deadline="2026-11-02 10:16"),
            referral("p2", "a", S.REQUESTED, 1, "2026-11-02 08:16", deadline="2026-11-09 10:16"),
            referral("d1", "a", S.REQUESTED, 1, "2026-11-02 08:16", agency="dolisa"),
            referral("d1", "a", S.COMPLETED, 4, "2026-11-04 08:16", agency="dolisa"),
            escalated("p1", "a", reminder=0),
            escalated("p1", "a", reminder=1),
        ]
    )
    registry = CollectorRegistry()
    registry.register(ReportGauges(store.engine, now=lambda: datetime(2026, 11, 3, tzinfo=UTC)))
    text = generate_latest(registry).decode()

    def value(name: str, **labels: str) -> float | None:
        return metric_value(text, name, **labels)

    assert value("lienganh_report_referrals_open", agency="police", state="requested",
                 province="01") == 2  # fmt: skip
    assert value("lienganh_report_referrals_open", agency="dolisa") is None  # completed
    assert value("lienganh_report_referrals_overdue", agency="police", province="01") == 1
    assert value("lienganh_report_escalations", agency="police", province="01") == 1
    assert value("lienganh_report_cases", case_type="child_trafficking", province="01") == 1
    assert value("lienganh_report_referrals", agency="dolisa", state="completed") == 1
    assert "case_id" not in text and "referral_id" not in text
