"""Who hears of what (interface E), applied to the seeded directory."""

from __future__ import annotations

from contracts.cases.v1 import CaseDeadlineMissed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.vocabulary import ReferralState
from notifications.adapters.directory_store import (
    default_directory_path,
    default_rules_path,
    load_directory,
    load_rules,
)
from notifications.domain.happenings import (
    from_deadline_missed,
    from_escalation,
    from_state_change,
)
from notifications.domain.rules import recipients_for

OFFICERS = list(load_directory(default_directory_path()).officers)
RULES = load_rules(default_rules_path())


def change(to_state: ReferralState, province: str = "01", **update: object) -> list[str]:
    event = ReferralStateChanged.example().model_copy(
        update={"to_state": to_state, "province_code": province, **update}
    )
    happening = from_state_change(event)
    return [] if happening is None else [o.id for o in recipients_for(RULES, OFFICERS, happening)]


def test_a_new_referral_reaches_that_agencys_officers_of_the_province():
    assert change(ReferralState.REQUESTED, from_state=None) == ["police-inspector-hn-01"]
    assert change(ReferralState.REQUESTED, "79", from_state=None) == ["police-inspector-hcm-01"]


def test_a_new_dolisa_referral_reaches_its_case_worker_not_its_supervisor():
    assert change(ReferralState.REQUESTED, from_state=None, agency="dolisa") == [
        "dolisa-caseworker-hn-01"
    ]


def test_outcomes_reach_the_case_owners_case_workers_and_coordinator_of_the_province():
    for state in (ReferralState.ACCEPTED, ReferralState.REJECTED, ReferralState.COMPLETED):
        assert change(state) == ["coordinator-hn-01", "dolisa-caseworker-hn-01"]
    assert change(ReferralState.FAILED, "79") == ["coordinator-hcm-01", "dolisa-caseworker-hcm-01"]


def test_intermediate_moves_tell_no_one():
    assert change(ReferralState.IN_PROGRESS) == []
    assert change(ReferralState.ON_HOLD) == []


def test_an_escalation_reaches_the_agencys_supervisor_and_the_provincial_coordinator():
    happening = from_escalation(ReferralEscalated.example())
    ids = [o.id for o in recipients_for(RULES, OFFICERS, happening)]
    assert ids == ["coordinator-hn-01", "police-supervisor-hn-01"]


def test_a_missed_case_deadline_reaches_the_owners_supervisor():
    happening = from_deadline_missed(CaseDeadlineMissed.example())
    assert [o.id for o in recipients_for(RULES, OFFICERS, happening)] == ["dolisa-supervisor-hn-01"]
