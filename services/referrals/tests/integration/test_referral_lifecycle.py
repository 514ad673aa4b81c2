"""The referrals worker on a real database: fan-out, consent, every agency action, versions,
transfer and merge — through the same EventProcessor and handler map the worker runs."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from sqlmodel import Session, select

from chassis.consumer import Delivery, EventProcessor, Outcome
from contracts import deadletter
from contracts.agencies.v1 import (
    ReferralAccepted,
    ReferralAcknowledged,
    ReferralCompleted,
    ReferralFailed,
    ReferralHeld,
    ReferralOutcome,
    ReferralRejected,
    ReferralResumed,
    ReferralStarted,
    ReferralTransferred,
)
from contracts.cases.v1 import (
    CaseCircumstances,
    CaseConsentRecorded,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
)
from contracts.envelope import encode
from contracts.referrals.field_policy import field_policy
from contracts.topics import CASES_EVENTS, REFERRALS_EVENTS, agency_referrals_topic
from contracts.topics import agency_updates_topic as updates
from contracts.vocabulary import CaseType, ConsentBasis
from referrals.adapters.tables import (
    CaseIdentityViews,
    ConsentHold,
    ReferralRecord,
    ReferralTransition,
)
from referrals.handlers import NO_CONSENT_REASON
from tests.support.keys import throwaway_dead_letter_keys

from .conftest import ALL_DETAILS, Worker, opened, oversharing_views

REQUESTED = "vn.lienganh.referral.requested.v1"
CHANGED = "vn.lienganh.referral.state_changed.v1"
REFUSED = "vn.lienganh.referral.update_refused.v1"


def new_case(**update: object) -> CaseReceived:
    case_id = str(uuid.uuid4())
    return CaseReceived.example().model_copy(
        update={"case_id": case_id, "identity_views": oversharing_views(case_id), **update}
    )


def referrals_of(worker: Worker, case_id: str) -> dict[str, ReferralRecord]:
    with Session(worker.engine) as session:
        rows = session.exec(select(ReferralRecord).where(ReferralRecord.case_id == case_id))
        return {row.agency: row for row in rows}


def action(kind, referral: ReferralRecord, version: int, **fields: object):
    return kind(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=referral.agency,
        expected_version=version,
        actor=f"{referral.agency}-officer-01",
        occurred_at=datetime.now(UTC),
        **fields,
    )


def test_a_trafficking_case_fans_out_with_need_to_know_details(worker: Worker):
    case = new_case()
    assert worker.deliver(CASES_EVENTS, case)[0].outcome is Outcome.PROCESSED
    referrals = referrals_of(worker, case.case_id)
    assert {a: r.lead for a, r in referrals.items()} == {"police": True, "dolisa": False}
    for agency in ("police", "dolisa"):
        [requested] = worker.staged(REQUESTED, agency_referrals_topic(agency))
        allowed = field_policy().allowed_fields(agency, CaseType.CHILD_TRAFFICKING)
        assert set(requested["details"]) == allowed
        assert requested["agency"] == agency
    created = worker.staged(CHANGED, REFERRALS_EVENTS)
    assert {(e["agency"], e["from_state"], e["to_state"]) for e in created} == {
        ("police", None, "requested"),
        ("dolisa", None, "requested"),
    }
    assert {e["owner_agency"] for e in created} == {"dolisa"}


def test_labour_inspection_gets_the_workplace_not_the_family(worker: Worker):
    case = new_case(
        case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
        circumstances=CaseCircumstances(employer_identified=True),
    )
    worker.deliver(CASES_EVENTS, case)
    [requested] = worker.staged(REQUESTED, agency_referrals_topic("labour_inspection"))
    assert set(requested["details"]) == {
        "sex",
        "workplace_name",
        "workplace_address",
        "employer_name",
        "industry",
    }


def test_without_consent_nothing_is_referred_and_the_reason_is_kept(worker: Worker):
    case = new_case(consent_basis=ConsentBasis.NONE)
    worker.deliver(CASES_EVENTS, case)
    assert referrals_of(worker, case.case_id) == {}
    assert worker.staged() == []
    with Session(worker.engine) as session:
        hold = session.get(ConsentHold, case.case_id)
    assert hold is not None and hold.reason == NO_CONSENT_REASON and hold.released_at is None


def test_recorded_consent_opens_the_held_referrals(worker: Worker):
    case = new_case(consent_basis=ConsentBasis.NONE)
    worker.deliver(CASES_EVENTS, case)
    consent = CaseConsentRecorded.example().model_copy(
        update={"case_id": case.case_id, "consent_basis": ConsentBasis.LEGAL_OVERRIDE}
    )
    worker.deliver(CASES_EVENTS, consent)
    assert set(referrals_of(worker, case.case_id)) == {"police", "dolisa"}
    with Session(worker.engine) as session:
        assert session.get(ConsentHold, case.case_id).released_at is not None  # type: ignore[union-attr]
    worker.deliver(CASES_EVENTS, consent.model_copy())  # a second record opens nothing more
    assert len(worker.staged(REQUESTED)) == 2
    # The held case's sealed views were kept (not in the hold itself) and travel now.
    with Session(worker.engine) as session:
        assert "identity_views" not in session.get(ConsentHold, case.case_id).case_event  # type: ignore[union-attr]
    [police] = worker.staged(REQUESTED, agency_referrals_topic("police"))
    assert (
        opened(case.case_id, "police", police["details"])["child_name"] == ALL_DETAILS["child_name"]
    )


def test_an_erased_identity_is_dropped_and_every_agency_holding_a_referral_told(
    worker: Worker,
):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    referrals = referrals_of(worker, case.case_id)
    erased = CaseIdentityErased.example().model_copy(update={"case_id": case.case_id})
    assert worker.deliver(CASES_EVENTS, erased)[0].outcome is Outcome.PROCESSED
    with Session(worker.engine) as session:
        assert session.get(CaseIdentityViews, case.case_id) is None
    for agency, referral in referrals.items():
        [notice] = worker.staged(
            "vn.lienganh.referral.identity_erased.v1", agency_referrals_topic(agency)
        )
        assert (notice["referral_id"], notice["agency"]) == (referral.id, agency)
    # A referral made after the erasure (here a transfer) carries nothing to open.
    transfer = action(
        ReferralTransferred,
        referrals["police"],
        1,
        to_agency="labour_inspection",
        reason="Lao động",
    )
    worker.deliver(updates("police"), transfer)
    [requested] = worker.staged(REQUESTED, agency_referrals_topic("labour_inspection"))
    assert requested["details"] == {}


def test_the_full_closed_loop_with_an_agency_outcome(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    steps = [
        action(ReferralAcknowledged, police, 1),
        action(ReferralAccepted, police, 2),
        action(ReferralStarted, police, 3),
        action(ReferralHeld, police, 4, reason="Chờ kết quả giám định"),
        action(ReferralResumed, police, 5),
        action(
            ReferralCompleted,
            police,
            6,
            outcome=ReferralOutcome(investigation_opened=True, victims_rescued=2),
        ),
    ]
    results = worker.deliver(updates("police"), *steps)
    assert {r.outcome for r in results} == {Outcome.PROCESSED}
    changes = [e for e in worker.staged(CHANGED, REFERRALS_EVENTS) if e["agency"] == "police"]
    assert [(e["from_state"], e["to_state"], e["version"]) for e in changes] == [
        (None, "requested", 1),
        ("requested", "received", 2),
        ("received", "accepted", 3),
        ("accepted", "in-progress", 4),
        ("in-progress", "on-hold", 5),
        ("on-hold", "in-progress", 6),
        ("in-progress", "completed", 7),
    ]
    assert changes[-1]["outcome"] == {
        **changes[-1]["outcome"],
        "investigation_opened": True,
        "victims_rescued": 2,
    }
    assert changes[4]["reason"] == "Chờ kết quả giám định"
    # The agency's inbox follows every move too; its version 1 was the ReferralRequested.
    on_inbox = worker.staged(CHANGED, agency_referrals_topic("police"))
    assert [e["version"] for e in on_inbox] == [2, 3, 4, 5, 6, 7]
    with Session(worker.engine) as session:
        done = session.get(ReferralRecord, police.id)
        history = session.exec(
            select(ReferralTransition).where(ReferralTransition.referral_id == police.id)
        ).all()
    assert done is not None and done.due_at is None  # closed: no deadline left
    assert len(history) == 7


def test_failure_is_told_to_the_sender_with_the_reason(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    dolisa = referrals_of(worker, case.case_id)["dolisa"]
    worker.deliver(
        updates("dolisa"),
        action(ReferralAccepted, dolisa, 1),
        action(ReferralStarted, dolisa, 2),
        action(ReferralFailed, dolisa, 3, reason="Gia đình đã chuyển khỏi tỉnh"),
    )
    last = worker.staged(CHANGED, REFERRALS_EVENTS)[-1]
    assert (last["to_state"], last["owner_agency"]) == ("failed", "dolisa")
    assert last["reason"] == "Gia đình đã chuyển khỏi tỉnh"


def test_an_outcome_with_another_agencys_fields_is_dead_lettered(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    worker.deliver(
        updates("police"), action(ReferralAccepted, police, 1), action(ReferralStarted, police, 2)
    )
    wrong = action(ReferralCompleted, police, 3, outcome=ReferralOutcome(school_name="THCS A"))
    [result] = worker.deliver(updates("police"), wrong)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.dead_letter is not None
    assert b"school_name" in dict(result.dead_letter.headers)[deadletter.ERROR]
    assert referrals_of(worker, case.case_id)["police"].state == "in-progress"


def test_a_forbidden_transition_is_refused_with_an_event(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    worker.deliver(updates("police"), action(ReferralStarted, police, 1))
    [refused] = worker.staged(REFUSED)
    assert refused["reason"] == "a referral that is requested cannot become in-progress"
    assert referrals_of(worker, case.case_id)["police"].version == 1


def test_two_actions_on_one_version_in_one_batch_one_wins(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    accept = action(ReferralAccepted, police, 1)
    reject = action(ReferralRejected, police, 1, reason="Không thuộc thẩm quyền")
    worker.deliver(updates("police"), accept, reject)
    assert referrals_of(worker, case.case_id)["police"].state == "accepted"
    [refused] = worker.staged(REFUSED)
    assert refused["action"] == ReferralRejected.ce_type
    assert (refused["expected_version"], refused["current_version"]) == (1, 2)


def test_two_replicas_racing_on_one_version_exactly_one_wins(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    topic = updates("police")
    replicas = [
        EventProcessor(
            service="referrals",
            consumer=f"referrals.{topic}",
            engine=worker.engine,
            handlers=worker.processors[topic]._handlers,
            dead_letter_sealer=throwaway_dead_letter_keys().sealer,
        )
        for _ in range(2)
    ]
    contenders = [
        action(ReferralAccepted, police, 1),
        action(ReferralRejected, police, 1, reason="Không thuộc thẩm quyền"),
    ]
    start = threading.Barrier(2)

    def run(index: int) -> None:
        start.wait()
        record = encode(contenders[index], topic=topic, source="/tests")
        replicas[index].process(Delivery(record=record, partition=0, offset=index))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = referrals_of(worker, case.case_id)["police"]
    assert final.version == 2 and final.state in {"accepted", "rejected"}
    applied = [e for e in worker.staged(CHANGED, REFERRALS_EVENTS) if e["version"] == 2]
    assert len(applied) == 1 and applied[0]["to_state"] == final.state
    assert len(worker.staged(REFUSED)) == 1


def test_a_transfer_rejects_and_opens_a_linked_referral(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    transfer = action(
        ReferralTransferred, police, 1, to_agency="labour_inspection", reason="Vụ việc lao động"
    )
    worker.deliver(updates("police"), transfer)
    now = referrals_of(worker, case.case_id)
    old, new = now["police"], now["labour_inspection"]
    assert (old.state, new.state) == ("rejected", "requested")
    assert (old.linked_referral_id, new.linked_referral_id) == (new.id, old.id)
    rejected = next(e for e in worker.staged(CHANGED) if e["to_state"] == "rejected")
    assert rejected["transferred_to"] == "labour_inspection"
    assert rejected["linked_referral_id"] == new.id
    [requested] = worker.staged(REQUESTED, agency_referrals_topic("labour_inspection"))
    assert requested["referral_id"] == new.id
    assert set(requested["details"]) == field_policy().allowed_fields(
        "labour_inspection", CaseType.CHILD_TRAFFICKING
    )
    # The new agency's own view, as the case event sealed it for labour inspection.
    shown = opened(case.case_id, "labour_inspection", requested["details"])
    assert shown["workplace_name"] == ALL_DETAILS["workplace_name"]


def test_an_agency_cannot_act_on_another_agencys_referral(worker: Worker):
    case = new_case()
    worker.deliver(CASES_EVENTS, case)
    police = referrals_of(worker, case.case_id)["police"]
    # DOLISA's topic carrying an action on the police referral, whatever it claims.
    forged = action(ReferralAccepted, police, 1).model_copy(update={"agency": "dolisa"})
    [result] = worker.deliver(updates("dolisa"), forged)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert referrals_of(worker, case.case_id)["police"].state == "requested"


def test_a_merge_moves_the_duplicates_referrals_to_the_surviving_case(worker: Worker):
    kept, duplicate = new_case(), new_case()
    worker.deliver(CASES_EVENTS, kept, duplicate)
    merged = CaseMerged.example().model_copy(
        update={"case_id": kept.case_id, "merged_case_id": duplicate.case_id}
    )
    worker.deliver(CASES_EVENTS, merged)
    assert referrals_of(worker, duplicate.case_id) == {}
    with Session(worker.engine) as session:
        rows = session.exec(select(ReferralRecord).where(ReferralRecord.case_id == kept.case_id))
        assert len(rows.all()) == 4
