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

from cases.adapters import identity
from cases.adapters.store import CaseStore
from cases.handlers.deps import case_facts, load_case
from contracts.cases.v1 import CaseIdentityErased
from contracts.topics import CASES_EVENTS


@dataclass(frozen=True)
class Erasure:
    case_ids: tuple[str, ...]  # the case and every report of the same child merged with it
    already_erased: tuple[str, ...]
    intake_keys: tuple[str, ...]  # intake keys that still open an agency report's copy


def erase_identity(store: CaseStore, case_id: str, *, actor: str, now: datetime) -> Erasure:
    """Destroy the data key of the case and of every case merged with it (the same child)."""
    record = load_case(store, case_id)
    family = store.family(record.merged_into or record.id)
    erased, skipped, intake = [], [], set()
    for case in family:
        if case.identity_erased_at is not None:
            skipped.append(case.id)
            continue
        key_row = store.data_key(case.id)
        identity.erase(case, key_row, actor=actor, now=now)
        store.save(case)
        if key_row is not None:
            store.save_data_key(key_row)
        store.publish(
            CaseIdentityErased(**case_facts(case), actor=actor, erased_at=now), topic=CASES_EVENTS
        )
        erased.append(case.id)
        if case.reported_under_key:
            intake.add(case.reported_under_key)
    return Erasure(tuple(erased), tuple(skipped), tuple(sorted(intake)))
