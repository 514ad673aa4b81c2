"""The in-memory `ReferralStore` of the fast handler tests: no database, no broker.

It behaves as `SqlStore` does (`tests/integration/test_store_contract.py` runs the same
scenarios on both): a row read is the stored row itself, as a session's identity map would
hand it back, a conditional write happens only from the version the caller names, and a
second row with the same key is refused as the database would refuse it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chassis.stores import MemoryOutbox, set_if_version
from contracts.referrals.lifecycle import OPEN_STATES
from referrals.adapters.store import Views
from referrals.adapters.tables import ConsentHold, ReferralRecord, ReferralTransition

_OPEN = {state.value for state in OPEN_STATES}


class DuplicateRow(Exception):
    """A row with this primary key is stored already (the database's IntegrityError)."""


@dataclass
class MemoryStore(MemoryOutbox):
    referrals: dict[str, ReferralRecord] = field(default_factory=dict)
    transitions: dict[tuple[str, int], ReferralTransition] = field(default_factory=dict)
    holds: dict[str, ConsentHold] = field(default_factory=dict)
    identity_views: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def referral(self, referral_id: str) -> ReferralRecord | None:
        return self.referrals.get(referral_id)

    def referrals_of_case(self, case_id: str) -> list[ReferralRecord]:
        return [r for r in self.referrals.values() if r.case_id == case_id]

    def add(self, referral: ReferralRecord) -> None:
        _insert(self.referrals, referral.id, referral)

    def move_if_version(
        self, referral: ReferralRecord, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        return set_if_version(self.referrals, referral, expected_version, values)

    def new_transition(self, **values: Any) -> ReferralTransition:
        return ReferralTransition(**values)

    def record_transition(self, transition: ReferralTransition) -> None:
        _insert(self.transitions, (transition.referral_id, transition.version), transition)

    def reassign_case(self, from_case_id: str, to_case_id: str) -> None:
        for referral in self.referrals_of_case(from_case_id):
            referral.case_id = to_case_id

    def views_of(self, case_id: str) -> Views | None:
        return self.identity_views.get(case_id)

    def keep_views(self, case_id: str, views: Views) -> None:
        if views and case_id not in self.identity_views:
            self.identity_views[case_id] = {agency: dict(view) for agency, view in views.items()}

    def drop_views(self, case_id: str) -> None:
        self.identity_views.pop(case_id, None)

    def consent_hold(self, case_id: str) -> ConsentHold | None:
        return self.holds.get(case_id)

    def add_hold(self, hold: ConsentHold) -> None:
        _insert(self.holds, hold.case_id, hold)

    def save_hold(self, hold: ConsentHold) -> None:
        self.holds[hold.case_id] = hold

    def drop_hold(self, case_id: str) -> None:
        self.holds.pop(case_id, None)

    def overdue(self, now: datetime, *, limit: int) -> list[ReferralRecord]:
        due: list[tuple[datetime, ReferralRecord]] = []
        for referral in self.referrals.values():
            at = referral.next_escalation_at
            if referral.state in _OPEN and at is not None and at <= now:
                due.append((at, referral))
        due.sort(key=lambda pair: pair[0])
        return [referral for _, referral in due[:limit]]

    def claim_escalation(self, referral: ReferralRecord, *, next_at: datetime) -> bool:
        stored = self.referrals.get(referral.id)
        read = (referral.version, referral.escalations_sent)
        if stored is None or (stored.version, stored.escalations_sent) != read:
            return False
        sent = referral.escalations_sent + 1
        for target in (stored, referral):
            target.escalations_sent, target.next_escalation_at = sent, next_at
        return True


def _insert(rows: dict[Any, Any], key: Any, row: Any) -> None:
    if key in rows:
        raise DuplicateRow(key)
    rows[key] = row
