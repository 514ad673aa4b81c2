"""The case's view of its referrals, fed by `referrals.events.v1`: the combined status."""

from __future__ import annotations

from cases.adapters.store import CaseStore
from contracts.referrals.v1 import ReferralStateChanged


def follow_referral(store: CaseStore, event: ReferralStateChanged) -> None:
    """Keep the combined status of the case's referrals (newest version wins)."""
    row = store.referral(event.referral_id)
    if row is not None and row.version >= event.version:
        return
    if row is None:
        case = store.case(event.case_id)
        # A referral of a merged case belongs to the case it was merged into.
        case_id = case.merged_into if case and case.merged_into else event.case_id
        row = store.new_referral(
            referral_id=event.referral_id,
            case_id=case_id,
            agency=event.agency,
            lead=event.lead,
            state=event.to_state.value,
            version=event.version,
        )
    if row.state != event.to_state.value:
        row.state_since = event.occurred_at
    row.state = event.to_state.value
    row.version = event.version
    row.state_since = row.state_since or event.occurred_at
    store.save_referral(row)
