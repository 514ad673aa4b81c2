"""Probable duplicates: a coordinator confirms (the newer report merges into the older case)
or rejects the link."""

from __future__ import annotations

from datetime import datetime

from cases.adapters.store import CaseStore
from cases.adapters.tables import (
    CaseRecord,
    DuplicateLink,
)
from cases.handlers.deps import LinkClosed, case_facts, load_case
from contracts.cases.v1 import (
    CaseMerged,
)
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import (
    CaseStage,
)


def decide_duplicate(
    store: CaseStore, link: DuplicateLink, *, confirm: bool, actor: str, now: datetime
) -> CaseMerged | None:
    """A coordinator's decision; a confirmed link merges the newer case into the older."""
    if link.status != "open":
        raise LinkClosed(f"the link was already {link.status}")
    link.status = "confirmed" if confirm else "rejected"
    link.decided_by, link.decided_at = actor, now
    store.save_duplicate_link(link)
    if not confirm:
        return None
    return _merge(store, load_case(store, link.other_case_id), link.case_id, actor, now)


def _merge(
    store: CaseStore, kept: CaseRecord, merged_id: str, actor: str, now: datetime
) -> CaseMerged:
    """The newer report lives on in the older case: referrals and history move over."""
    merged = load_case(store, merged_id)
    if kept.merged_into or merged.merged_into:
        raise LinkClosed("one of the two cases was already merged into another")
    store.move_records(merged.id, to=kept.id)
    merged.merged_into = kept.id
    merged.status = CaseStage.CLOSED.value
    merged.closure_reason = f"merged into case {kept.id}"
    merged.version += 1
    kept.version += 1
    store.save(merged)
    store.save(kept)
    event = CaseMerged(**case_facts(kept), merged_case_id=merged.id, actor=actor, occurred_at=now)
    store.publish(event, topic=CASES_EVENTS)
    return event
