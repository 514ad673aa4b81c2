"""Business gauges read from the store: open, overdue, escalations, cases — bounded labels,
small cells withheld from the unauthenticated scrape and counted instead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chassis.auth import LocalIssuer
from contracts.vocabulary import CaseType
from contracts.vocabulary import ReferralState as S
from reporting.bootstrap import create_api
from reporting.config import ReportingSettings
from reporting.gauges import ReportGauges
from services.reporting.tests.events import case, escalated, merged, referral
from services.reporting.tests.store import Store

LABOUR, TRAFFICKING = CaseType.CHILD_LABOUR, CaseType.CHILD_TRAFFICKING


def samples(text: str) -> dict[str, dict[tuple[str, ...], float]]:
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("lienganh_report_"):
                labels = tuple(sample.labels[k] for k in sorted(sample.labels))
                found.setdefault(sample.name, {})[labels] = sample.value
    return found


def feed(store: Store) -> None:
    # Cases, case type by province: 20 and 12 in 01, 9 and 3 in 79, 7 and 8 in 48. The 3
    # is hidden, and with it 9, 7 and 8, so that no row or column total gives it back.
    counts = {("01", LABOUR): 20, ("01", TRAFFICKING): 12, ("79", LABOUR): 9,
              ("79", TRAFFICKING): 3, ("48", LABOUR): 7, ("48", TRAFFICKING): 8}  # fmt: skip
    store.feed(
        case(f"{p}-{t}-{n}", province_code=p, case_type=t)
        for (p, t), count in counts.items()
        for n in range(count)
    )
    # A merged duplicate is not counted.
    store.feed([case("dup", province_code="01", case_type=LABOUR), merged("01-child_labour-0",
                                                                          "dup")])  # fmt: skip
    # Referrals: 6 police ones requested in 01, all past their deadline; 5 dolisa ones
    # accepted in 79; one escalation (a count of 1: withheld).
    store.feed(
        referral(f"p{n}", "01-child_trafficking-0", S.REQUESTED, 1, "2026-11-02 08:16",
                 deadline="2026-11-02 10:16")
        for n in range(6)
    )  # fmt: skip
    store.feed(
        referral(f"d{n}", "79-child_labour-0", S.ACCEPTED, 2, "2026-11-02 09:00",
                 agency="dolisa", province_code="79")
        for n in range(5)
    )  # fmt: skip
    store.feed([escalated("p0", "01-child_trafficking-0", reminder=0),
                escalated("p0", "01-child_trafficking-0", reminder=1)])  # fmt: skip


def test_gauges_from_the_store_withhold_small_cells(store: Store):
    feed(store)
    registry = CollectorRegistry()
    now = datetime(2026, 11, 3, tzinfo=UTC)
    registry.register(ReportGauges(store.engine, threshold=5, now=lambda: now))
    text = generate_latest(registry).decode()
    found = samples(text)

    assert found["lienganh_report_cases"] == {("child_labour", "01"): 20,
                                              ("child_trafficking", "01"): 12}  # fmt: skip
    assert found["lienganh_report_referrals"] == {("dolisa", "accepted"): 5,
                                                  ("police", "requested"): 6}  # fmt: skip
    assert found["lienganh_report_referrals_open"] == {
        ("dolisa", "79", "accepted"): 5,
        ("police", "01", "requested"): 6,
    }
    assert found["lienganh_report_referrals_overdue"] == {("police", "01"): 6}
    assert "lienganh_report_escalations" not in found  # 1: withheld
    assert found["lienganh_report_suppressed_cells"] == {
        ("cases",): 4,
        ("escalations",): 1,
        ("referrals",): 0,
        ("referrals_open",): 0,
        ("referrals_overdue",): 0,
    }
    assert "case_id" not in text and "referral_id" not in text


def test_the_api_scrape_needs_no_token_and_uses_the_configured_threshold(
    store: Store, database_url: str, tmp_path: Path
):
    feed(store)
    LocalIssuer(tmp_path / "keys").public_key_pem()  # the API verifies tokens with it
    settings = ReportingSettings(
        data_dir=tmp_path, database_url=database_url, suppression_threshold=10
    )
    scraped = TestClient(create_api(settings)).get("/metrics")
    assert scraped.status_code == 200
    found = samples(scraped.text)
    person_counts = [
        value
        for name, values in found.items()
        if name != "lienganh_report_suppressed_cells"
        for value in values.values()
    ]
    assert person_counts and not [v for v in person_counts if 1 <= v <= 9]
    assert found["lienganh_report_cases"] == {("child_labour", "01"): 20,
                                              ("child_trafficking", "01"): 12}  # fmt: skip
    assert found["lienganh_report_suppressed_cells"][("referrals_open",)] == 2
