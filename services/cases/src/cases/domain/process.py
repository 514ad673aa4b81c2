"""The six-step case process (Decree 56/2017/NĐ-CP) as a state machine. No I/O.

received → assessed → needs_identified → plan_approved → plan_in_progress → reviewed,
then from `reviewed`: closed (with a reason), or re-planned (back to needs_identified when
the needs changed, or plan_approved when only the plan did).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from contracts.vocabulary import CaseStage, SupportNeed

S = CaseStage
ALLOWED_TRANSITIONS: dict[CaseStage, frozenset[CaseStage]] = {
    S.RECEIVED: frozenset({S.ASSESSED}),
    S.ASSESSED: frozenset({S.NEEDS_IDENTIFIED}),
    S.NEEDS_IDENTIFIED: frozenset({S.PLAN_APPROVED}),
    S.PLAN_APPROVED: frozenset({S.PLAN_IN_PROGRESS}),
    S.PLAN_IN_PROGRESS: frozenset({S.REVIEWED}),
    S.REVIEWED: frozenset({S.NEEDS_IDENTIFIED, S.PLAN_APPROVED, S.CLOSED}),
    S.CLOSED: frozenset(),
}
ORDER = tuple(CaseStage)


class ForbiddenTransition(Exception):
    """The process does not allow this step from the case's current one."""

    def __init__(self, current: CaseStage, requested: CaseStage) -> None:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (case is closed)"
        super().__init__(
            f"case is in stage {current.value!r}; cannot move to {requested.value!r} "
            f"(allowed: {allowed})"
        )
        self.current = current
        self.requested = requested


class IncompleteStep(Exception):
    """The step is allowed but the request lacks what it needs; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Plan:
    """A support and intervention plan: which needs, which agencies, when it is reviewed."""

    agencies: tuple[str, ...]
    review_date: date


@dataclass(frozen=True)
class StageRequest:
    to_stage: CaseStage
    reason: str | None = None
    needs: tuple[SupportNeed, ...] = ()
    plan: Plan | None = None


@dataclass(frozen=True)
class StageChange:
    """What the case looks like after an allowed step."""

    from_stage: CaseStage
    to_stage: CaseStage
    reason: str | None
    needs: tuple[SupportNeed, ...]
    plan: Plan | None


def change_stage(
    current: CaseStage,
    request: StageRequest,
    *,
    needs: tuple[SupportNeed, ...],
    plan: Plan | None,
    today: date,
) -> StageChange:
    """Check one step against the process; `needs`/`plan` are the case's current ones."""
    target = request.to_stage
    if target not in ALLOWED_TRANSITIONS[current]:
        raise ForbiddenTransition(current, target)
    if target is S.NEEDS_IDENTIFIED:
        if not request.needs:
            raise IncompleteStep("needs", "identify at least one support need")
        needs, plan = tuple(dict.fromkeys(request.needs)), None
    if target is S.PLAN_APPROVED:
        if request.needs:
            needs = tuple(dict.fromkeys(request.needs))
        plan = _checked_plan(request.plan, today)
    if target is S.CLOSED and not (request.reason and request.reason.strip()):
        raise IncompleteStep("reason", "closing a case needs a closure reason")
    if current is S.REVIEWED and target is not S.CLOSED and not request.reason:
        raise IncompleteStep("reason", "re-planning needs a reason (what the review found)")
    return StageChange(current, target, request.reason, needs, plan)


def _checked_plan(plan: Plan | None, today: date) -> Plan:
    if plan is None:
        raise IncompleteStep("plan", "approving a plan needs its agencies and review date")
    if not plan.agencies:
        raise IncompleteStep("plan.agencies", "a plan names at least one agency")
    if plan.review_date <= today:
        raise IncompleteStep("plan.review_date", "the review date must be in the future")
    return Plan(tuple(dict.fromkeys(plan.agencies)), plan.review_date)


def reached(stage: CaseStage, milestone: CaseStage) -> bool:
    """True once `stage` is at or beyond `milestone` in the process order."""
    return ORDER.index(stage) >= ORDER.index(milestone)
