"""The synthetic data generator: reproducible, valid, realistic, with planted duplicates."""

from __future__ import annotations

from collections import Counter
from datetime import date

from cases.api.schemas import CaseReportIn
from cases.domain.intake import age_on, missing_for_channel
from cases.synthetic import generate_reports, strip_diacritics

TODAY = date(2026, 11, 1)


def test_the_same_seed_gives_the_same_reports():
    assert list(generate_reports(50, seed=7)) == list(generate_reports(50, seed=7))
    assert list(generate_reports(50, seed=7)) != list(generate_reports(50, seed=8))


def test_every_report_is_accepted_by_the_intake_schema_and_its_channel_rules():
    for report in generate_reports(300, seed=1, duplicate_rate=0.2):
        body = CaseReportIn.model_validate(report)  # geography and fields checked like the API
        present = {name for name in ("summary",) if report.get(name)}
        present |= {f"child.{k}" for k, v in report["child"].items() if v}
        present |= {f"workplace.{k}" for k, v in (report.get("workplace") or {}).items() if v}
        assert missing_for_channel(body.channel, present) == [], report["channel"]


def test_children_are_5_to_17_with_vietnamese_names():
    reports = list(generate_reports(300, seed=2, duplicate_rate=0))
    ages = {age_on(date.fromisoformat(r["child"]["date_of_birth"]), TODAY) for r in reports}
    assert min(ages) >= 5 and max(ages) <= 17
    names = [r["child"]["full_name"] for r in reports]
    assert all(len(name.split()) == 3 for name in names)
    assert sum(name != strip_diacritics(name) for name in names) > 250


def test_mixes_cover_every_case_type_and_many_channels_and_provinces():
    reports = list(generate_reports(1000, seed=3))
    assert set(Counter(r["case_type"] for r in reports)) == {
        "child_labour",
        "hazardous_child_labour",
        "at_risk",
        "child_trafficking",
        "forced_labour",
    }
    assert len({r["channel"] for r in reports}) >= 8
    assert len({r["province_code"] for r in reports}) >= 30


def test_duplicates_are_the_same_child_through_another_channel():
    reports = list(generate_reports(400, seed=4, duplicate_rate=0.2))
    by_child = Counter(
        (strip_diacritics(r["child"]["full_name"]), r["child"]["date_of_birth"], r["commune_code"])
        for r in reports
    )
    assert sum(count - 1 for count in by_child.values() if count > 1) >= 40


def test_diacritics_are_stripped_including_d_with_stroke():
    assert strip_diacritics("Đặng Thị Hương") == "Dang Thi Huong"
