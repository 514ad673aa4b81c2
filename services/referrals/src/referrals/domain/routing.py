"""Routing policy as data: which agencies a case is referred to, by when, and what happens
when a deadline passes.

The policy is a versioned YAML file validated at start-up (adapters/policy_file.py); this
module holds its model and the pure functions that apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.cases.v1 import CaseCircumstances, CaseReceived
from contracts.vocabulary import CaseType, ReferralState, RiskLevel

Circumstance = Literal["employer_identified", "out_of_school", "signs_of_forced_labour"]
# The clocks of `requested` and `received` are one: the time to accept, from the request.
ACCEPT_CLOCK_STATES = (ReferralState.REQUESTED, ReferralState.RECEIVED)


@dataclass(frozen=True)
class CaseProfile:
    """What the policy looks at: facts of the case, never who the child is."""

    case_type: CaseType
    risk_level: RiskLevel
    province_code: str
    circumstances: CaseCircumstances = field(default_factory=CaseCircumstances)

    @classmethod
    def of(cls, case: CaseReceived) -> CaseProfile:
        return cls(case.case_type, case.risk_level, case.province_code, case.circumstances)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Match(_Strict):
    case_types: tuple[CaseType, ...] = ()
    risk_levels: tuple[RiskLevel, ...] = ()
    employer_identified: bool | None = None

    def matches(self, case: CaseProfile) -> bool:
        return (
            (not self.case_types or case.case_type in self.case_types)
            and (not self.risk_levels or case.risk_level in self.risk_levels)
            and (
                self.employer_identified is None
                or case.circumstances.employer_identified == self.employer_identified
            )
        )


class AlsoRefer(_Strict):
    agency: str
    if_: Circumstance | None = Field(default=None, alias="if")
    reason: str


class Rule(_Strict):
    name: str
    when: Match
    lead: str
    also: tuple[AlsoRefer, ...] = ()


class Deadlines(_Strict):
    when: Match
    hours: dict[ReferralState, float]


class Reroute(_Strict):
    when: Match
    from_: str = Field(alias="from")
    to: str
    after_reminders: int = Field(ge=0)


class Escalation(_Strict):
    reminder_every_hours: float = Field(gt=0)
    reroute: tuple[Reroute, ...] = ()


class ProvincePolicy(_Strict):
    rules: tuple[Rule, ...] = ()
    deadlines: tuple[Deadlines, ...] = ()
    reroute: tuple[Reroute, ...] = ()


class RoutingPolicy(_Strict):
    version: int = Field(ge=1)
    rules: tuple[Rule, ...] = Field(min_length=1)
    deadlines: tuple[Deadlines, ...] = Field(min_length=1)
    escalation: Escalation
    provinces: dict[str, ProvincePolicy] = Field(default_factory=dict)

    def agencies(self) -> set[str]:
        """Every agency the policy names, for the start-up check against the registry."""
        rules = [*self.rules]
        for province in self.provinces.values():
            rules.extend(province.rules)
        named: set[str] = set()
        for rule in rules:
            named |= {rule.lead, *(extra.agency for extra in rule.also)}
        reroutes = [*self.escalation.reroute]
        for province in self.provinces.values():
            reroutes.extend(province.reroute)
        for reroute in reroutes:
            named |= {reroute.from_, reroute.to}
        return named

    def _province(self, case: CaseProfile) -> ProvincePolicy:
        return self.provinces.get(case.province_code, ProvincePolicy())

    def rules_for(self, case: CaseProfile) -> tuple[Rule, ...]:
        return (*self._province(case).rules, *self.rules)

    def deadlines_for(self, case: CaseProfile) -> tuple[Deadlines, ...]:
        return (*self._province(case).deadlines, *self.deadlines)

    def reroutes_for(self, case: CaseProfile) -> tuple[Reroute, ...]:
        return (*self._province(case).reroute, *self.escalation.reroute)


@dataclass(frozen=True)
class RoutingDecision:
    agency: str
    lead: bool
    reason: str


def route(policy: RoutingPolicy, case: CaseProfile) -> list[RoutingDecision]:
    """The referrals a case fans out to: one lead agency plus the supporting ones."""
    rule = next((rule for rule in policy.rules_for(case) if rule.when.matches(case)), None)
    if rule is None:
        return []
    decisions = [RoutingDecision(rule.lead, True, f"{rule.name}: lead agency")]
    for extra in rule.also:
        if extra.if_ and not getattr(case.circumstances, extra.if_):
            continue
        if extra.agency not in {decision.agency for decision in decisions}:
            decisions.append(RoutingDecision(extra.agency, False, extra.reason))
    return decisions


def state_hours(policy: RoutingPolicy, case: CaseProfile, state: ReferralState) -> float | None:
    """How long a referral may stay in `state`; None for a closed state (no deadline)."""
    for deadlines in policy.deadlines_for(case):
        if deadlines.when.matches(case):
            return deadlines.hours.get(state)
    return None


def deadline_for(
    policy: RoutingPolicy,
    case: CaseProfile,
    state: ReferralState,
    *,
    entered_at: datetime,
    requested_at: datetime,
) -> datetime | None:
    """When a referral that entered `state` at `entered_at` is overdue."""
    hours = state_hours(policy, case, state)
    if hours is None:
        return None
    start = requested_at if state in ACCEPT_CLOCK_STATES else entered_at
    return start + timedelta(hours=hours)


def reroute_target(
    policy: RoutingPolicy, case: CaseProfile, agency: str, reminder: int
) -> str | None:
    """The agency to move an overdue referral to once `reminder` has been sent, if any."""
    for reroute in policy.reroutes_for(case):
        if reroute.from_ == agency and reroute.when.matches(case):
            return reroute.to if reminder >= reroute.after_reminders else None
    return None
