"""The in-memory `InboxStore` of the fast handler tests: no database, no broker.

It behaves as `SqlStore` does (`tests/integration/test_store_contract.py` runs the same
scenarios on both): a referral read is the stored row itself, as a session's identity map
would hand it back, and a move happens only from the version the caller names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agencies.adapters.tables import InboxReferral
from chassis.stores import MemoryOutbox, set_if_version
from contracts.base import EventModel


class DuplicateRow(Exception):
    """A row with this primary key is stored already (the database's IntegrityError)."""


@dataclass
class MemoryStore(MemoryOutbox):
    referrals: dict[str, InboxReferral] = field(default_factory=dict)
    webhooks: list[EventModel] = field(default_factory=list)

    def referral(self, referral_id: str) -> InboxReferral | None:
        return self.referrals.get(referral_id)

    def add(self, referral: InboxReferral) -> None:
        if referral.id in self.referrals:
            raise DuplicateRow(referral.id)
        self.referrals[referral.id] = referral

    def save(self, referral: InboxReferral) -> None:
        self.referrals[referral.id] = referral

    def move_if_version(
        self, referral: InboxReferral, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        return set_if_version(self.referrals, referral, expected_version, values)

    def stage_webhook(self, event: EventModel) -> None:
        self.webhooks.append(event)
