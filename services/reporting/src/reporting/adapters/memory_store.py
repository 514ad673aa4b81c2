"""The in-memory `ReportingStore` of the handler unit tests: no database, no broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import SQLModel

from chassis.stores import MemoryOutbox
from reporting.adapters.tables import CaseFact, DeliveryFact, EscalationFact, ReferralFact

Row = TypeVar("Row", bound=SQLModel)


def _copy(row: Row) -> Row:
    # Rows go in and out as copies, like rows read back from a database: a change the
    # handler does not save is lost here too.
    return type(row)(**row.model_dump())


@dataclass
class MemoryStore(MemoryOutbox):
    """Facts in dicts keyed like the tables' primary keys; events and after-commit effects
    as in `MemoryOutbox` (call `commit()` to run the effects)."""

    cases: dict[str, CaseFact] = field(default_factory=dict)
    referrals: dict[str, ReferralFact] = field(default_factory=dict)
    escalations: dict[tuple[str, int], EscalationFact] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], DeliveryFact] = field(default_factory=dict)

    def case_fact(self, case_id: str) -> CaseFact | None:
        row = self.cases.get(case_id)
        return None if row is None else _copy(row)

    def new_case_fact(self, case_id: str) -> CaseFact:
        return CaseFact(case_id=case_id)

    def save_case_fact(self, fact: CaseFact) -> None:
        self.cases[fact.case_id] = _copy(fact)

    def referral_fact(self, referral_id: str) -> ReferralFact | None:
        row = self.referrals.get(referral_id)
        return None if row is None else _copy(row)

    def new_referral_fact(self, **values: Any) -> ReferralFact:
        return ReferralFact(**values)

    def save_referral_fact(self, fact: ReferralFact) -> None:
        self.referrals[fact.referral_id] = _copy(fact)

    def save_escalation(self, fact: EscalationFact) -> None:
        self.escalations[fact.referral_id, fact.reminder] = _copy(fact)

    def new_delivery(self, **values: Any) -> DeliveryFact:
        return DeliveryFact(**values)

    def save_delivery(self, fact: DeliveryFact) -> None:
        self.deliveries[fact.notification_id, fact.channel] = _copy(fact)

    def save_delivery_unless_known(self, fact: DeliveryFact) -> None:
        self.deliveries.setdefault((fact.notification_id, fact.channel), _copy(fact))

    def rows(self) -> list[SQLModel]:
        """Every fact held, of every table."""
        return [
            *self.cases.values(),
            *self.referrals.values(),
            *self.escalations.values(),
            *self.deliveries.values(),
        ]
