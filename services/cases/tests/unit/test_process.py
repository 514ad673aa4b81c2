"""The six-step process: every allowed step, every refused one, and what each step needs."""

from __future__ import annotations

from datetime import date

import pytest

from cases.domain.process import (
    ALLOWED_TRANSITIONS,
    ForbiddenTransition,
    IncompleteStep,
    Plan,
    StageRequest,
    change_stage,
)
from contracts.vocabulary import CaseStage, SupportNeed

S = CaseStage
TODAY = date(2026, 11, 23)
NEEDS = (SupportNeed.EDUCATION, SupportNeed.PSYCHOLOGICAL_SUPPORT)
PLAN = Plan(("dolisa", "education"), date(2026, 12, 23))


def complete_request(target: CaseStage) -> StageRequest:
    return StageRequest(to_stage=target, reason="review found new needs", needs=NEEDS, plan=PLAN)


ALLOWED = [(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets]
FORBIDDEN = [(a, b) for a in CaseStage for b in CaseStage if (a, b) not in ALLOWED]


def test_the_process_is_the_national_six_steps_plus_replanning():
    assert set(ALLOWED) == {
        (S.RECEIVED, S.ASSESSED),
        (S.ASSESSED, S.NEEDS_IDENTIFIED),
        (S.NEEDS_IDENTIFIED, S.PLAN_APPROVED),
        (S.PLAN_APPROVED, S.PLAN_IN_PROGRESS),
        (S.PLAN_IN_PROGRESS, S.REVIEWED),
        (S.REVIEWED, S.NEEDS_IDENTIFIED),
        (S.REVIEWED, S.PLAN_APPROVED),
        (S.REVIEWED, S.CLOSED),
    }


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_allowed_step_is_taken(current: CaseStage, target: CaseStage):
    change = change_stage(current, complete_request(target), needs=NEEDS, plan=PLAN, today=TODAY)
    assert (change.from_stage, change.to_stage) == (current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_every_other_step_is_refused_naming_both_stages(current: CaseStage, target: CaseStage):
    with pytest.raises(ForbiddenTransition) as refused:
        change_stage(current, complete_request(target), needs=NEEDS, plan=PLAN, today=TODAY)
    assert f"'{current.value}'" in str(refused.value)
    assert f"'{target.value}'" in str(refused.value)


def test_needs_identified_needs_at_least_one_need():
    with pytest.raises(IncompleteStep) as refused:
        change_stage(S.ASSESSED, StageRequest(S.NEEDS_IDENTIFIED), needs=(), plan=None, today=TODAY)
    assert refused.value.field == "needs"


def test_a_plan_names_agencies_and_a_future_review_date():
    request = StageRequest(S.PLAN_APPROVED)
    with pytest.raises(IncompleteStep) as no_plan:
        change_stage(S.NEEDS_IDENTIFIED, request, needs=NEEDS, plan=None, today=TODAY)
    assert no_plan.value.field == "plan"
    past = StageRequest(S.PLAN_APPROVED, plan=Plan(("dolisa",), TODAY))
    with pytest.raises(IncompleteStep) as old:
        change_stage(S.NEEDS_IDENTIFIED, past, needs=NEEDS, plan=None, today=TODAY)
    assert old.value.field == "plan.review_date"
    nobody = StageRequest(S.PLAN_APPROVED, plan=Plan((), date(2027, 1, 1)))
    with pytest.raises(IncompleteStep) as empty:
        change_stage(S.NEEDS_IDENTIFIED, nobody, needs=NEEDS, plan=None, today=TODAY)
    assert empty.value.field == "plan.agencies"


def test_approval_keeps_the_identified_needs_and_records_the_plan():
    change = change_stage(
        S.NEEDS_IDENTIFIED,
        StageRequest(S.PLAN_APPROVED, plan=PLAN),
        needs=NEEDS,
        plan=None,
        today=TODAY,
    )
    assert change.needs == NEEDS and change.plan == PLAN


def test_closing_needs_a_reason_and_replanning_too():
    with pytest.raises(IncompleteStep) as closing:
        change_stage(S.REVIEWED, StageRequest(S.CLOSED), needs=NEEDS, plan=PLAN, today=TODAY)
    assert closing.value.field == "reason"
    replan = StageRequest(S.NEEDS_IDENTIFIED, needs=(SupportNeed.LEGAL_AID,))
    with pytest.raises(IncompleteStep):
        change_stage(S.REVIEWED, replan, needs=NEEDS, plan=PLAN, today=TODAY)


def test_replanning_the_needs_drops_the_old_plan():
    request = StageRequest(S.NEEDS_IDENTIFIED, reason="new risk", needs=(SupportNeed.LEGAL_AID,))
    change = change_stage(S.REVIEWED, request, needs=NEEDS, plan=PLAN, today=TODAY)
    assert change.needs == (SupportNeed.LEGAL_AID,) and change.plan is None
