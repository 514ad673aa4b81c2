"""The default routing table of ARCHITECTURE.md, row by row, and the policy file checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.cases.v1 import CaseCircumstances, CaseReceived
from contracts.vocabulary import CaseType, RiskLevel
from contracts.vocabulary import ReferralState as S
from referrals.adapters.policy_file import InvalidPolicy, default_policy_path, load_policy
from referrals.domain.routing import CaseProfile, deadline_for, reroute_target, route

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
    return [(d.agency, d.lead) for d in route(policy, CaseProfile.of(event))]


def accept_by(policy, event: CaseReceived) -> datetime | None:
    return deadline_for(
        policy,
        CaseProfile.of(event),
        S.REQUESTED,
        entered_at=NOW,
        requested_at=NOW,
    )


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
    event = case(CaseType.CHILD_TRAFFICKING, RiskLevel.URGENT)
    assert accept_by(policy, event) == NOW + timedelta(hours=2)


def test_other_referrals_must_be_accepted_within_a_day(policy):
    assert accept_by(policy, case(CaseType.CHILD_LABOUR, RiskLevel.URGENT)) == NOW + timedelta(
        hours=24
    )
    assert accept_by(policy, case(CaseType.CHILD_TRAFFICKING)) == NOW + timedelta(hours=24)


def test_acknowledging_does_not_restart_the_accept_clock(policy):
    event = CaseProfile.of(case(CaseType.AT_RISK))
    later = NOW + timedelta(hours=5)
    due = deadline_for(policy, event, S.RECEIVED, entered_at=later, requested_at=NOW)
    assert due == NOW + timedelta(hours=24)


def test_in_progress_work_is_reviewed_after_thirty_days(policy):
    event = CaseProfile.of(case(CaseType.AT_RISK))
    started = NOW + timedelta(days=2)
    due = deadline_for(policy, event, S.IN_PROGRESS, entered_at=started, requested_at=NOW)
    assert due == started + timedelta(days=30)


def test_closed_states_have_no_deadline(policy):
    event = CaseProfile.of(case(CaseType.AT_RISK))
    assert deadline_for(policy, event, S.COMPLETED, entered_at=NOW, requested_at=NOW) is None


def test_ho_chi_minh_city_overrides_the_accept_deadline_for_labour_cases(policy):
    hcm = case(CaseType.HAZARDOUS_CHILD_LABOUR).model_copy(
        update={"province_code": "79", "commune_code": "26506"}
    )
    assert accept_by(policy, hcm) == NOW + timedelta(hours=8)
    # the override names labour cases only; trafficking in HCM keeps the national clock
    trafficking = hcm.model_copy(update={"case_type": CaseType.CHILD_TRAFFICKING})
    assert accept_by(policy, trafficking) == NOW + timedelta(hours=24)


def test_a_province_can_add_its_own_route(tmp_path: Path):
    text = default_policy_path().read_text() + (
        '  "48":\n'
        "    rules:\n"
        "      - name: Da Nang at-risk children go to education first\n"
        "        when: {case_types: [at_risk]}\n"
        "        lead: education\n"
        "        also: [{agency: dolisa, reason: family support}]\n"
    )
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    local = load_policy(path, AGENCIES)
    da_nang = case(CaseType.AT_RISK).model_copy(update={"province_code": "48"})
    assert routed(local, da_nang) == [("education", True), ("dolisa", False)]
    assert routed(local, case(CaseType.AT_RISK)) == [("dolisa", True), ("education", False)]


def test_an_unanswered_education_referral_is_rerouted_after_three_reminders(policy):
    event = CaseProfile.of(case(CaseType.CHILD_LABOUR))
    assert reroute_target(policy, event, "education", 2) is None
    assert reroute_target(policy, event, "education", 3) == "dolisa"
    assert reroute_target(policy, event, "police", 5) is None


def test_a_policy_naming_an_unknown_agency_is_refused(tmp_path: Path):
    text = default_policy_path().read_text().replace("lead: police", "lead: polise", 1)
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(InvalidPolicy, match=r"missing from the registry: \['polise'\]"):
        load_policy(path, AGENCIES)


def test_a_policy_with_a_bad_value_names_the_line_and_the_problem(tmp_path: Path):
    text = default_policy_path().read_text().replace("requested: 2,", "requested: -2,", 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "requested: -2" in row)
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(InvalidPolicy) as refused:
        load_policy(path, AGENCIES)
    message = str(refused.value)
    assert f"routing.yaml:{line}: deadlines.0.hours.requested:" in message
    assert "less than or equal to the minimum of 0" in message


def test_a_policy_with_an_unknown_key_is_refused(tmp_path: Path):
    text = default_policy_path().read_text().replace("    lead: dolisa\n", "    leed: dolisa\n", 1)
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(InvalidPolicy, match=r"rules\.3: .*'lead' is a required property"):
        load_policy(path, AGENCIES)


def test_a_policy_that_is_not_yaml_is_refused(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text("rules: [unclosed\n")
    with pytest.raises(InvalidPolicy, match="not valid YAML"):
        load_policy(path, AGENCIES)
