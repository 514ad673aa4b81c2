"""The default routing table of ARCHITECTURE.md, row by row, and the policy file checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.cases.v1 import CaseCircumstances, CaseReceived
from contracts.vocabulary import CaseType, RiskLevel
from referrals.adapters.policy_file import InvalidPolicy, default_policy_path, load_policy
from referrals.domain.routing import route

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
AGENCIES = {"police", "dolisa", "education", "labour_inspection"}


@pytest.fixture(scope="module")
def policy():
    return load_policy(default_policy_path(), AGENCIES)


def case(
    case_type: CaseType, risk: RiskLevel = RiskLevel.HIGH, **circumstances: bool
) -> CaseReceived:
    return CaseReceived.example().model_copy(
        update={
            "case_type": case_type,
            "risk_level": risk,
            "circumstances": CaseCircumstances(**circumstances),
        }
    )


def routed(policy, event: CaseReceived) -> list[tuple[str, bool]]:
    return [(d.agency, d.lead) for d in route(policy, event, NOW)]


@pytest.mark.parametrize("case_type", [CaseType.CHILD_TRAFFICKING, CaseType.FORCED_LABOUR])
def test_trafficking_and_forced_labour_go_to_police_lead_and_dolisa(policy, case_type):
    assert routed(policy, case(case_type)) == [("police", True), ("dolisa", False)]


def test_trafficking_of_an_out_of_school_child_also_goes_to_education(policy):
    assert routed(policy, case(CaseType.CHILD_TRAFFICKING, out_of_school=True)) == [
        ("police", True),
        ("dolisa", False),
        ("education", False),
    ]


def test_hazardous_labour_goes_to_labour_inspection_and_dolisa(policy):
    assert routed(policy, case(CaseType.HAZARDOUS_CHILD_LABOUR)) == [
        ("labour_inspection", True),
        ("dolisa", False),
    ]


def test_hazardous_labour_with_signs_of_forced_labour_adds_police(policy):
    event = case(CaseType.HAZARDOUS_CHILD_LABOUR, signs_of_forced_labour=True)
    assert routed(policy, event) == [
        ("labour_inspection", True),
        ("dolisa", False),
        ("police", False),
    ]


def test_child_labour_with_employer_goes_to_labour_inspection(policy):
    event = case(CaseType.CHILD_LABOUR, employer_identified=True, out_of_school=True)
    assert routed(policy, event) == [
        ("labour_inspection", True),
        ("dolisa", False),
        ("education", False),
    ]


def test_child_labour_without_employer_goes_to_dolisa_and_education(policy):
    assert routed(policy, case(CaseType.CHILD_LABOUR)) == [("dolisa", True), ("education", False)]


def test_at_risk_goes_to_dolisa_and_education(policy):
    assert routed(policy, case(CaseType.AT_RISK)) == [("dolisa", True), ("education", False)]


def test_urgent_trafficking_must_be_accepted_within_two_hours(policy):
    decisions = route(policy, case(CaseType.CHILD_TRAFFICKING, RiskLevel.URGENT), NOW)
    assert {d.accept_by for d in decisions} == {NOW + timedelta(hours=2)}


def test_other_referrals_must_be_accepted_within_a_day(policy):
    decisions = route(policy, case(CaseType.CHILD_LABOUR, RiskLevel.URGENT), NOW)
    assert {d.accept_by for d in decisions} == {NOW + timedelta(hours=24)}


def test_a_policy_naming_an_unknown_agency_is_refused(tmp_path: Path):
    text = default_policy_path().read_text().replace("lead: police", "lead: polise", 1)
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(InvalidPolicy, match="unknown agency 'polise'"):
        load_policy(path, AGENCIES)


def test_a_policy_with_a_bad_field_names_the_place(tmp_path: Path):
    text = default_policy_path().read_text().replace("hours: 2}", "hours: -2}", 1)
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(InvalidPolicy, match=r"accept_within\.0\.hours"):
        load_policy(path, AGENCIES)
