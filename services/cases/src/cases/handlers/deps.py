"""What every cases handler stands on: its dependencies, its refusals, the case loaded
under a lock, and the facts every case event repeats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cases.adapters.keyring import Cipher
from cases.adapters.store import CaseStore
from cases.adapters.tables import (
    CaseRecord,
)
from cases.domain.clocks import ClockPolicy
from chassis.calendar import WorkingCalendar
from chassis.consumer import RejectedEvent
from chassis.sealing import PrivateOpener
from contracts.cases.v1 import (
    CaseFacts,
)
from contracts.vocabulary import (
    CaseType,
    RiskLevel,
)


def _no_intake_key() -> PrivateOpener:
    raise RejectedEvent("sealed_identity: this cases service has no intake key configured")


@dataclass(frozen=True)
class CaseDeps:
    cipher: Cipher  # the service keyring: wraps each case's data key
    owner_agency: str
    dedup_secret: bytes
    clocks: ClockPolicy = field(default_factory=ClockPolicy)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # Opens agency case reports sealed to the intake public key (reloaded on rotation).
    intake_opener: Callable[[], PrivateOpener] = _no_intake_key


class CaseNotFound(Exception):
    pass


class StaleVersion(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the case is at version {current}; reload it and retry")
        self.current = current


class InvalidReport(Exception):
    """A report that breaks an intake rule; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LinkClosed(Exception):
    pass


def load_case(store: CaseStore, case_id: str) -> CaseRecord:
    """The case, locked for the rest of the transaction (PostgreSQL), so two writers that
    saw the same version cannot both pass the version check."""
    record = store.case(case_id, lock=True)
    if record is None:
        raise CaseNotFound(case_id)
    return record


def case_facts(record: CaseRecord) -> dict[str, object]:
    return CaseFacts(
        case_id=record.id,
        case_type=CaseType(record.case_type),
        risk_level=RiskLevel(record.risk_level),
        province_code=record.province_code,
        owner_agency=record.owner_agency,
    ).model_dump()
