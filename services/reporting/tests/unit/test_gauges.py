"""The Prometheus gauges as the unauthenticated scrape sees them: no small cell, and no
hidden cell recoverable from a total the scrape also exports."""

from __future__ import annotations

import random
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from contracts.referrals.lifecycle import OPEN_STATES
from contracts.vocabulary import CaseType, ReferralState
from reporting.gauges import Gauge, ReportFacts, families, report_gauges
from reporting.publication import publish
from reporting.queries import CountTable

OPEN = {state.value for state in OPEN_STATES}
PROVINCES = ["01", "48", "79", "92"]
AGENCIES = ["police", "dolisa", "education"]


class _Fixed(Collector):
    def __init__(self, gauges: list[Gauge]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator:
        yield from families(self.gauges)


def scrape(facts: ReportFacts, threshold: int = 5) -> dict[str, dict[tuple, float]]:
    """Sample values by metric name and label values, as Prometheus would read them."""
    registry = CollectorRegistry()
    registry.register(_Fixed(report_gauges(facts, threshold)))
    text = generate_latest(registry).decode()
    scraped: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sample.labels[name] for name in sorted(sample.labels))
            scraped.setdefault(sample.name, {})[labels] = sample.value
    return scraped


def random_facts(draw: random.Random) -> ReportFacts:
    def some(n: int) -> int:
        return draw.choice([0, 0, 0, 1, 2, 3, 4, 5, 7, 12, 40])

    agencies = AGENCIES[: draw.randint(1, 3)]
    provinces = PROVINCES[: draw.randint(1, 4)]
    states = draw.sample([s.value for s in ReferralState], draw.randint(1, 5))
    return ReportFacts(
        cases=[(t.value, p, some(0)) for t in CaseType for p in provinces],
        referrals=[(a, s, p, some(0)) for a in agencies for s in states for p in provinces],
        overdue=[(a, p, some(0)) for a in agencies for p in provinces],
        escalations=[(a, p, some(0)) for a in agencies for p in provinces],
    )


def person_counts(scraped: dict[str, dict[tuple, float]]) -> Iterator[tuple[str, float]]:
    for name, samples in scraped.items():
        if name.startswith("lienganh_report_") and name != "lienganh_report_suppressed_cells":
            for value in samples.values():
                yield name, value


def test_no_exported_person_count_is_from_1_to_4():
    draw = random.Random(20261102)
    exported = 0
    for _ in range(150):
        for name, value in person_counts(scrape(random_facts(draw))):
            assert not 1 <= value <= 4, name
            exported += 1
    assert exported > 500  # large cells still go out


def test_large_cells_go_out_exactly_and_hidden_ones_are_counted():
    facts = ReportFacts(
        cases=[("child_labour", "01", 3), ("child_labour", "79", 20),
               ("child_trafficking", "01", 12), ("child_trafficking", "79", 9),
               ("at_risk", "48", 30), ("forced_labour", "48", 40)],
        referrals=[("police", "accepted", "01", 40), ("police", "accepted", "79", 50)],
        overdue=[("police", "01", 2)],
        escalations=[],
    )  # fmt: skip
    scraped = scrape(facts)
    # The 3 and the three cells of its 2-by-2 rectangle are withheld; the rest is exact.
    assert scraped["lienganh_report_cases"] == {
        ("at_risk", "48"): 30,
        ("forced_labour", "48"): 40,
    }
    assert scraped["lienganh_report_referrals_open"] == {
        ("police", "01", "accepted"): 40,
        ("police", "79", "accepted"): 50,
    }
    assert "lienganh_report_referrals_overdue" not in scraped
    assert scraped["lienganh_report_suppressed_cells"] == {
        ("cases",): 4,
        ("referrals",): 0,
        ("referrals_open",): 0,
        ("referrals_overdue",): 1,
        ("escalations",): 0,
    }


def test_a_hidden_open_cell_cannot_be_recovered_from_the_referrals_total():
    # Police in province 01: 8 accepted, 3 requested, 6 completed. Open referrals hide the
    # 3, the 8 that protects it, and its row total 8; so must the referrals gauge, whose
    # (police, accepted) is that total, or 8 minus nothing shown gives the hidden 8 back.
    facts = ReportFacts(
        cases=[],
        referrals=[("police", "accepted", "01", 8), ("police", "requested", "01", 3),
                   ("police", "completed", "01", 6)],
        overdue=[], escalations=[],
    )  # fmt: skip
    assert recoverable(facts) == []
    assert ("police", "accepted") not in scrape(facts).get("lienganh_report_referrals", {})
    draw = random.Random(92)
    for _ in range(200):
        facts = random_facts(draw)
        assert recoverable(facts) == [], facts


def recoverable(facts: ReportFacts) -> list[tuple[str, str, str, int]]:
    """Open cells an attacker gets from the scrape alone: knowing every province, the
    referrals total of (agency, state) minus the open cells shown leaves one unknown."""
    scraped = scrape(facts)
    totals = scraped.get("lienganh_report_referrals", {})
    shown = scraped.get("lienganh_report_referrals_open", {})
    truth: dict[tuple[str, str], dict[str, int]] = {}
    for agency, state, province, n in facts.referrals:
        if state in OPEN:
            row = truth.setdefault((agency, state), {})
            row[province] = row.get(province, 0) + n
    provinces = sorted({p for row in truth.values() for p in row})
    found = []
    for (agency, state), row in truth.items():
        total = totals.get((agency, state))
        unknown = [p for p in provinces if (agency, p, state) not in shown]
        if total is None or len(unknown) != 1:
            continue
        known = sum(shown.get((agency, p, state), 0) for p in provinces)
        assert total - known == row.get(unknown[0], 0)  # the sum really does give it back
        if row.get(unknown[0], 0):
            found.append((agency, state, unknown[0], row[unknown[0]]))
    return found


def test_the_scrape_hides_the_cells_the_report_api_hides():
    facts = ReportFacts(
        cases=[("child_labour", "01", 8), ("child_labour", "79", 2),
               ("child_trafficking", "01", 8)],
        referrals=[], overdue=[], escalations=[],
    )  # fmt: skip
    api = publish(
        CountTable("province", "case_type", ["01", "79"], ["child_labour", "child_trafficking"],
                   [[8, 8], [2, 0]]),
        threshold=5, suppressed=True,
    )  # fmt: skip
    assert api.cells == [["x", "x"], ["<5", "x"]]
    assert "lienganh_report_cases" not in scrape(facts)


def test_threshold_one_turns_suppression_off():
    facts = ReportFacts(cases=[("child_labour", "01", 1)], referrals=[], overdue=[],
                        escalations=[])  # fmt: skip
    assert scrape(facts, threshold=1)["lienganh_report_cases"] == {("child_labour", "01"): 1}
