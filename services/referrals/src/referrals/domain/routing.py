"""Routing policy as data: which agencies a case is referred to, and by when.

The policy is a versioned YAML file validated at start-up; this module holds its model and
the pure function that applies it to a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.cases.v1 import CaseReceived
from contracts.vocabulary import CaseType, RiskLevel

Circumstance = Literal["employer_identified", "out_of_school", "signs_of_forced_labour"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    case_types: tuple[CaseType, ...] = ()
    risk_levels: tuple[RiskLevel, ...] = ()
    provinces: tuple[str, ...] = ()
    employer_identified: bool | None = None

    def matches(self, case: CaseReceived) -> bool:
        return (
            (not self.case_types or case.case_type in self.case_types)
            and (not self.risk_levels or case.risk_level in self.risk_levels)
            and (not self.provinces or case.province_code in self.provinces)
            and (
                self.employer_identified is None
                or case.circumstances.employer_identified == self.employer_identified
            )
        )


class AlsoRefer(_Strict):
    agency: str
    if_: Circumstance | None = Field(default=None, alias="if")
    reason: str = "supporting agency"


class Rule(_Strict):
    name: str
    when: Match
    lead: str
    also: tuple[AlsoRefer, ...] = ()


class Deadline(_Strict):
    when: Match
    hours: float = Field(gt=0)


class RoutingPolicy(_Strict):
    version: int = Field(ge=1)
    rules: tuple[Rule, ...] = Field(min_length=1)
    accept_within: tuple[Deadline, ...] = Field(min_length=1)


@dataclass(frozen=True)
class RoutingDecision:
    agency: str
    lead: bool
    reason: str
    accept_by: datetime


def route(policy: RoutingPolicy, case: CaseReceived, now: datetime) -> list[RoutingDecision]:
    """The referrals a case fans out to: one lead agency plus the supporting ones."""
    rule = next((rule for rule in policy.rules if rule.when.matches(case)), None)
    if rule is None:
        return []
    accept_by = now + timedelta(hours=accept_within_hours(policy, case))
    decisions = [RoutingDecision(rule.lead, True, f"{rule.name}: lead agency", accept_by)]
    for extra in rule.also:
        if extra.if_ and not getattr(case.circumstances, extra.if_):
            continue
        if extra.agency not in {decision.agency for decision in decisions}:
            decisions.append(RoutingDecision(extra.agency, False, extra.reason, accept_by))
    return decisions


def accept_within_hours(policy: RoutingPolicy, case: CaseReceived) -> float:
    for deadline in policy.accept_within:
        if deadline.when.matches(case):
            return deadline.hours
    return policy.accept_within[-1].hours
