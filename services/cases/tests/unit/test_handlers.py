"""The cases handlers on the in-memory store: every rule, no database, no broker."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from cases.adapters import identity
from cases.adapters.memory_store import MemoryStore
from cases.adapters.tables import SEALED_COLUMNS, CaseRecord
from cases.deadlines import announce_missed_clocks
from cases.domain.intake import ConsentRecord
from cases.domain.process import StageRequest
from cases.handlers import (
    InvalidReport,
    LinkClosed,
    StaleVersion,
    decide_duplicate,
    follow_referral,
    move_stage,
    record_case,
    record_consent,
    record_reported_case,
)
from cases.handlers.erasure import erase_identity
from chassis.consumer import RejectedEvent
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseDeadlineMissed,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
    CaseStageChanged,
)
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import CaseClock, CaseStage, Channel, ConsentBasis
from services.cases.tests.support import (
    INTAKE_KEY_ID,
    MONDAY,
    agency_report,
    child,
    handler_deps,
    record_command,
)

DEPS = handler_deps()
NAME = "Phạm Thị Ngọc Ánh"  # the ready-made report's child
LATER = MONDAY + timedelta(hours=1)


def same_child_twice(store: MemoryStore) -> tuple[CaseRecord, CaseRecord]:
    return record_case(store, record_command(), DEPS), record_case(store, record_command(), DEPS)


# --- intake -------------------------------------------------------------------------------


def test_intake_records_the_case_sealed_and_stages_case_received():
    store = MemoryStore()
    record = record_case(store, record_command(), DEPS)
    assert store.case(record.id) is record
    assert (record.status, record.version, record.owner_agency) == ("received", 1, "dolisa")
    assert record.emergency_due_at == MONDAY + timedelta(hours=12)  # urgent: 12 hours
    [received] = store.events(CaseReceived, topic=CASES_EVENTS)
    assert len(store.published) == 1
    assert received.case_id == record.id and received.consent_basis is ConsentBasis.CONSENT
    assert received.identity_views  # each agency's sealed view travels with the event
    assert NAME not in record.model_dump_json() and NAME not in received.model_dump_json()
    opened = identity.open_under(DEPS.cipher, record, store.data_key(record.id))
    assert opened["child_name"] == NAME
    assert [c.consent_basis for c in store.consents(record.id)] == ["consent"]


def test_a_report_resent_with_its_case_id_is_the_same_case():
    store = MemoryStore()
    case_id = "7e3f4051-6c7d-4e8f-9a01-b2c3d4e5f607"
    first = record_case(store, replace(record_command(), case_id=case_id), DEPS)
    again = record_case(store, replace(record_command(), case_id=case_id), DEPS)
    assert again is first
    assert list(store.case_rows) == [case_id] and len(store.published) == 1


def test_a_report_that_breaks_an_intake_rule_is_refused_and_stores_nothing():
    store = MemoryStore()
    with pytest.raises(InvalidReport) as refused:
        record_case(store, replace(record_command(), commune_code="26506"), DEPS)
    assert refused.value.field == "commune_code"
    assert not store.case_rows and not store.key_rows and not store.published


def test_the_same_child_reported_again_is_linked_with_or_without_diacritics():
    store = MemoryStore()
    older, newer = same_child_twice(store)
    plain = record_case(store, record_command(child=child(full_name="Pham Thi Ngoc Anh")), DEPS)
    other = record_case(store, record_command(child=child(full_name="Phạm Thị Lan")), DEPS)
    assert [(link.other_case_id, link.match) for link in store.duplicate_links(newer.id)] == [
        (older.id, "exact")
    ]
    assert {(link.other_case_id, link.match) for link in store.duplicate_links(plain.id)} == {
        (older.id, "without_diacritics"),
        (newer.id, "without_diacritics"),
    }
    assert store.duplicate_links(older.id) == store.duplicate_links(other.id) == []


def test_an_agency_report_is_an_intake_and_its_redelivery_is_ignored():
    store = MemoryStore()
    event = agency_report()
    record_reported_case(store, event, topic_agency="police", deps=DEPS)
    record_reported_case(store, event, topic_agency="police", deps=DEPS)  # at-least-once
    record = store.case(event.case_id)
    assert record is not None and list(store.case_rows) == [event.case_id]
    assert (record.channel, record.reported_under_key) == ("police", INTAKE_KEY_ID)
    assert record.consent_basis == "legal_override"
    assert len(store.events(CaseReceived)) == 1


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (agency_report(agency="dolisa"), "reported on 'police'"),
        (agency_report(channel=Channel.SCHOOL), "does not fit agency"),
        (agency_report(commune_code="26506"), "commune_code"),
        (
            agency_report(
                sealed_identity=agency_report(
                    "6d2e3f40-5b6c-4d7e-8f90-a1b2c3d4e5f6"
                ).sealed_identity
            ),
            "cannot be",
        ),
    ],
)
def test_an_agency_report_that_cannot_be_trusted_is_rejected(event, why):
    store = MemoryStore()
    with pytest.raises(RejectedEvent, match=why):
        record_reported_case(store, event, topic_agency="police", deps=DEPS)
    assert not store.case_rows and not store.published


# --- process and consent ------------------------------------------------------------------


def test_a_step_is_stored_in_the_history_announced_and_meets_its_clock():
    store = MemoryStore()
    record = record_case(store, record_command(), DEPS)
    assessed = StageRequest(to_stage=CaseStage.ASSESSED)
    event = move_stage(store, record, assessed, expected_version=1, actor="cw-01", now=LATER)
    assert (record.status, record.version, record.emergency_met_at) == ("assessed", 2, LATER)
    assert [(h.from_stage, h.to_stage, h.actor) for h in store.history(record.id)] == [
        ("received", "assessed", "cw-01")
    ]
    assert store.events(CaseStageChanged, topic=CASES_EVENTS) == [event]


def test_a_stale_version_changes_nothing():
    store = MemoryStore()
    record = record_case(store, record_command(), DEPS)
    assessed = StageRequest(to_stage=CaseStage.ASSESSED)
    move_stage(store, record, assessed, expected_version=1, actor="cw-01", now=LATER)
    needs = StageRequest(to_stage=CaseStage.NEEDS_IDENTIFIED, needs=(), reason=None)
    with pytest.raises(StaleVersion):
        move_stage(store, record, needs, expected_version=1, actor="cw-02", now=LATER)
    assert record.status == "assessed" and len(store.history(record.id)) == 1
    assert len(store.events(CaseStageChanged)) == 1


def test_consent_reads_the_sealed_date_of_birth_so_a_child_of_13_must_consent():
    store = MemoryStore()
    record = record_case(store, record_command(), DEPS)  # born 2013: 13 years old
    guardian_only = ConsentRecord(False, True, None)
    event = record_consent(store, record, guardian_only, deps=DEPS, actor="cw-01", now=LATER)
    assert event.consent_basis is ConsentBasis.NONE
    young = record_case(store, record_command(child=child(date_of_birth="2022-01-01")), DEPS)
    event = record_consent(store, young, guardian_only, deps=DEPS, actor="cw-01", now=LATER)
    assert event.consent_basis is ConsentBasis.CONSENT  # under 7: the guardian's is enough
    assert [c.consent_basis for c in store.consents(record.id)] == ["consent", "none"]
    assert (record.version, record.consent_basis, record.child_consented) == (2, "none", False)
    assert len(store.events(CaseConsentRecorded, topic=CASES_EVENTS)) == 2


# --- duplicates ---------------------------------------------------------------------------


def test_a_confirmed_duplicate_merges_the_newer_case_into_the_older():
    store = MemoryStore()
    older, newer = same_child_twice(store)
    move_stage(
        store, newer, StageRequest(CaseStage.ASSESSED), expected_version=1, actor="a", now=LATER
    )
    follow_referral(
        store, referral_changed("b1c2d3e4-0001-4000-8000-000000000001", newer.id, "accepted", 2)
    )
    [link] = store.duplicate_links(newer.id)
    event = decide_duplicate(store, link, confirm=True, actor="coord-01", now=LATER)
    assert (link.status, link.decided_by) == ("confirmed", "coord-01")
    assert (newer.merged_into, newer.status, newer.version) == (older.id, "closed", 3)
    assert older.version == 2 and older.merged_into is None
    assert store.events(CaseMerged, topic=CASES_EVENTS) == [event]
    assert event is not None and (event.case_id, event.merged_case_id) == (older.id, newer.id)
    assert [h.to_stage for h in store.history(older.id)] == ["assessed"]
    assert [r.referral_id for r in store.referrals(older.id)] == [
        "b1c2d3e4-0001-4000-8000-000000000001"
    ]
    assert len(store.consents(older.id)) == 2 and not store.consents(newer.id)
    assert store.history(newer.id) == store.referrals(newer.id) == []


def test_a_rejected_duplicate_merges_nothing_and_a_decided_link_stays_decided():
    store = MemoryStore()
    older, newer = same_child_twice(store)
    [link] = store.duplicate_links(newer.id)
    assert decide_duplicate(store, link, confirm=False, actor="coord-01", now=LATER) is None
    assert link.status == "rejected" and newer.merged_into is None and older.version == 1
    assert not store.events(CaseMerged)
    with pytest.raises(LinkClosed):
        decide_duplicate(store, link, confirm=True, actor="coord-01", now=LATER)


def test_a_case_merged_once_is_not_merged_again():
    store = MemoryStore()
    first, second = same_child_twice(store)
    third = record_case(store, record_command(), DEPS)
    links = {link.other_case_id: link for link in store.duplicate_links(third.id)}
    decide_duplicate(store, links[first.id], confirm=True, actor="coord-01", now=LATER)
    with pytest.raises(LinkClosed, match="already merged"):
        decide_duplicate(store, links[second.id], confirm=True, actor="coord-01", now=LATER)
    assert third.merged_into == first.id and len(store.events(CaseMerged)) == 1


# --- referral status ----------------------------------------------------------------------


def referral_changed(
    referral_id: str, case_id: str, state: str, version: int, at: datetime = LATER
) -> ReferralStateChanged:
    fields = {"referral_id": referral_id, "case_id": case_id, "to_state": state}
    return ReferralStateChanged.model_validate(
        ReferralStateChanged.example().model_dump()
        | fields
        | {"version": version, "occurred_at": at}
    )


def test_the_newest_referral_version_wins_and_its_state_keeps_its_start():
    store = MemoryStore()
    case = record_case(store, record_command(), DEPS)
    follow_referral(
        store,
        referral_changed("b1c2d3e4-0001-4000-8000-000000000001", case.id, "accepted", 2, at=LATER),
    )
    follow_referral(
        store,
        referral_changed(
            "b1c2d3e4-0001-4000-8000-000000000001",
            case.id,
            "accepted",
            3,
            at=LATER + timedelta(days=1),
        ),
    )
    follow_referral(
        store, referral_changed("b1c2d3e4-0001-4000-8000-000000000001", case.id, "requested", 1)
    )  # late: ignored
    row = store.referral("b1c2d3e4-0001-4000-8000-000000000001")
    assert row is not None
    assert (row.state, row.version, row.state_since) == ("accepted", 3, LATER)
    follow_referral(
        store,
        referral_changed(
            "b1c2d3e4-0001-4000-8000-000000000001",
            case.id,
            "completed",
            4,
            at=LATER + timedelta(days=2),
        ),
    )
    assert (row.state, row.state_since) == ("completed", LATER + timedelta(days=2))
    assert len(store.published) == 1  # only the intake's: the case's view announces nothing


def test_a_referral_of_a_merged_case_belongs_to_the_case_it_was_merged_into():
    store = MemoryStore()
    kept, merged = same_child_twice(store)
    merged.merged_into = kept.id
    follow_referral(
        store, referral_changed("b1c2d3e4-0002-4000-8000-000000000002", merged.id, "completed", 5)
    )
    assert [r.referral_id for r in store.referrals(kept.id)] == [
        "b1c2d3e4-0002-4000-8000-000000000002"
    ]
    assert store.referrals(merged.id) == []


# --- erasure ------------------------------------------------------------------------------


def test_erasure_destroys_the_keys_of_the_whole_family_and_announces_each():
    store = MemoryStore()
    older, newer = same_child_twice(store)
    [link] = store.duplicate_links(newer.id)
    decide_duplicate(store, link, confirm=True, actor="coord-01", now=LATER)
    result = erase_identity(store, newer.id, actor="dpo-01", now=LATER)
    assert result.case_ids == tuple(sorted((older.id, newer.id)))
    assert result.already_erased == () and result.intake_keys == ()
    for case in (older, newer):
        assert all(getattr(case, column) in (None, "") for column in SEALED_COLUMNS)
        assert (case.dedup_key, case.identity_erased_at) == (None, LATER)
        key_row = store.data_key(case.id)
        assert key_row is not None and key_row.wrapped_key is None
        with pytest.raises(identity.IdentityErased):
            identity.open_under(DEPS.cipher, case, key_row)
    erased = store.events(CaseIdentityErased, topic=CASES_EVENTS)
    assert sorted(e.case_id for e in erased) == sorted((older.id, newer.id))
    assert older.case_type == "child_trafficking"  # the facts stay


def test_erasing_again_erases_nothing_new_and_names_the_intake_key_of_an_agency_report():
    store = MemoryStore()
    event = agency_report()
    record_reported_case(store, event, topic_agency="police", deps=DEPS)
    first = erase_identity(store, event.case_id, actor="dpo-01", now=LATER)
    assert (first.case_ids, first.intake_keys) == ((event.case_id,), (INTAKE_KEY_ID,))
    again = erase_identity(store, event.case_id, actor="dpo-01", now=LATER)
    assert (again.case_ids, again.already_erased) == ((), (event.case_id,))
    assert len(store.events(CaseIdentityErased)) == 1


def test_consent_after_erasure_stands_on_the_guardian_and_any_override():
    store = MemoryStore()
    record = record_case(store, record_command(child=child(date_of_birth="2022-01-01")), DEPS)
    erase_identity(store, record.id, actor="dpo-01", now=LATER)
    guardian_only = ConsentRecord(None, True, None)
    event = record_consent(store, record, guardian_only, deps=DEPS, actor="cw-01", now=LATER)
    assert event.consent_basis is ConsentBasis.NONE  # the age no longer opens
    override = ConsentRecord(None, False, "court order")
    event = record_consent(store, record, override, deps=DEPS, actor="cw-01", now=LATER)
    assert event.consent_basis is ConsentBasis.LEGAL_OVERRIDE


# --- legal clocks -------------------------------------------------------------------------


def test_a_missed_clock_is_announced_once_and_a_met_one_never():
    store = MemoryStore()
    missed = record_case(store, record_command(), DEPS)
    met = record_case(store, record_command(child=child(full_name="Phạm Thị Lan")), DEPS)
    move_stage(
        store, met, StageRequest(CaseStage.ASSESSED), expected_version=1, actor="a", now=LATER
    )
    due = MONDAY + timedelta(hours=12)
    assert announce_missed_clocks(store, due) == 0  # due at 14:00 is not missed at 14:00
    assert announce_missed_clocks(store, due + timedelta(minutes=1)) == 1
    assert announce_missed_clocks(store, due + timedelta(minutes=2)) == 0
    [event] = store.events(CaseDeadlineMissed, topic=CASES_EVENTS)
    assert (event.case_id, event.clock) == (missed.id, CaseClock.EMERGENCY_INTERVENTION)
    assert (
        missed.emergency_missed_at == due + timedelta(minutes=1) and met.emergency_missed_at is None
    )
