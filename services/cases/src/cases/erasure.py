"""Erasing a child's identity on an immutable log: destroy the case's data key.

Every copy of the identity is sealed under the case's data key or a key derived from it: the
cases store, `cases.events.v1`, the agencies' referral topics and inboxes, dead letters. With
the key destroyed none of them opens again, wherever it rests, and nothing on Kafka has to be
rewritten (crypto-shredding). The store's sealed columns and keyed hashes are cleared too, and
`CaseIdentityErased` tells the referrals service and, through it, every agency inbox to drop
their sealed copies. The case's facts stay, so every count built from them is unchanged.

An agency's case report travelled sealed to the cases service's intake key instead; its copy
on the agency's topic is shredded when that intake key is retired (`intake-keys retire`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from cases.adapters import identity
from cases.adapters.tables import CaseDataKey, CaseRecord
from cases.handlers import case_facts, load_case
from chassis.unit_of_work import UnitOfWork
from contracts.cases.v1 import CaseIdentityErased
from contracts.topics import CASES_EVENTS


@dataclass(frozen=True)
class Erasure:
    case_ids: tuple[str, ...]  # the case and every report of the same child merged with it
    already_erased: tuple[str, ...]
    intake_keys: tuple[str, ...]  # intake keys that still open an agency report's copy


def erase_identity(uow: UnitOfWork, case_id: str, *, actor: str, now: datetime) -> Erasure:
    """Destroy the data key of the case and of every case merged with it (the same child)."""
    record = load_case(uow.session, case_id)
    kept = record.merged_into or record.id
    family = uow.session.exec(
        select(CaseRecord)
        .where((col(CaseRecord.id) == kept) | (col(CaseRecord.merged_into) == kept))
        .order_by(col(CaseRecord.id))
    ).all()
    erased, skipped, intake = [], [], set()
    for case in family:
        if case.identity_erased_at is not None:
            skipped.append(case.id)
            continue
        identity.erase(case, uow.session.get(CaseDataKey, case.id), actor=actor, now=now)
        uow.session.add(case)
        uow.publish(
            CaseIdentityErased(**case_facts(case), actor=actor, erased_at=now), topic=CASES_EVENTS
        )
        erased.append(case.id)
        if case.reported_under_key:
            intake.add(case.reported_under_key)
    return Erasure(tuple(erased), tuple(skipped), tuple(sorted(intake)))
