"""Identity flows one way: each agency's view sealed into the case event, and its key
released only to an officer acting on an active referral of that agency (need to know, by
relationship), every release audited."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from cases import handlers
from cases.adapters import identity
from cases.adapters.store import SqlStore
from cases.adapters.tables import CaseRecord
from chassis.identity_views import open_view, view_key
from chassis.sealing import DataKey
from chassis.unit_of_work import unit_of_work
from contracts.referrals.field_policy import field_policy
from contracts.referrals.v1 import ReferralStateChanged
from contracts.vocabulary import CaseType, ReferralState
from services.cases.tests.support import CasesApi, report

NAME = "Phạm Thị Ngọc Ánh"
POLICE_VIEW = {
    "child_name": NAME,
    "date_of_birth": "2013-04-02",
    "address": "số 12 ngõ Hàng Bông",
    "guardian_name": "Phạm Văn Toản",
    "guardian_phone": "0912345678",
    "sex": "female",
    "summary": "Người gọi cho biết em làm việc ban đêm ở quán karaoke.",
}


def create(api: CasesApi, **overrides: object) -> str:
    response = api.post("/cases", api.hotline(), report(**overrides))
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"])


def data_key(api: CasesApi, case_id: str) -> DataKey:
    with Session(api.engine) as session:
        key = identity.data_key(session, api.client.app.state.service_context.deps.cipher, case_id)  # type: ignore[attr-defined]
    assert key is not None
    return key


def refer(api: CasesApi, case_id: str, agency: str, state: ReferralState, version: int) -> str:
    """What the cases worker records from referrals.events.v1 (the relationship)."""
    referral_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case_id}/{agency}"))
    event = ReferralStateChanged.example().model_copy(
        update={
            "referral_id": referral_id,
            "case_id": case_id,
            "agency": agency,
            "to_state": state,
            "version": version,
            "occurred_at": datetime.now(UTC),
        }
    )
    with unit_of_work(api.engine, source="/tests") as uow:
        handlers.follow_referral(SqlStore(uow), event)
    return referral_id


def ask(api: CasesApi, case_id: str, referral_id: str, token: str):  # type: ignore[no-untyped-def]
    return api.post(f"/cases/{case_id}/view-key", token, {"referral_id": referral_id})


def officer(api: CasesApi, agency: str = "police", role: str = "inspector", province: str = "01"):  # type: ignore[no-untyped-def]
    return api.token(f"{agency}-{role}-{province}", agency, [role], [province])


def test_each_agency_view_rides_sealed_in_the_case_event_with_only_its_fields(
    cases_api: CasesApi,
):
    workplace = {
        "name": "Xưởng may Phát Đạt",
        "address": "Lô 4 KCN Sài Đồng",
        "industry": "garment",
    }
    case_id = create(cases_api, workplace=workplace)
    [received] = cases_api.events("vn.lienganh.case.received.v1")
    views = received["identity_views"]
    assert NAME not in str(received) and "Phát Đạt" not in str(received)
    key = data_key(cases_api, case_id)
    for agency, tokens in views.items():
        allowed = field_policy().allowed_fields(agency, CaseType.CHILD_TRAFFICKING)
        assert set(tokens) <= allowed
        opened = open_view(
            view_key(key, case_id=case_id, agency=agency),
            case_id=case_id,
            agency=agency,
            tokens=tokens,
        )
        assert all(value for value in opened.values())
    police = view_key(key, case_id=case_id, agency="police")
    shown = open_view(police, case_id=case_id, agency="police", tokens=views["police"])
    assert shown == {
        **POLICE_VIEW,
        "workplace_name": "Xưởng may Phát Đạt",
        "workplace_address": "Lô 4 KCN Sài Đồng",
        "industry": "garment",
    }
    assert set(views["education"]) == {
        "sex",
        "child_name",
        "date_of_birth",
        "guardian_name",
        "guardian_phone",
    }


def test_an_officer_acting_on_an_active_referral_gets_the_key_of_that_view_only(
    cases_api: CasesApi,
):
    case_id = create(cases_api)
    referral_id = refer(cases_api, case_id, "police", ReferralState.REQUESTED, 1)
    answer = ask(cases_api, case_id, referral_id, officer(cases_api))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    released = DataKey(base64.urlsafe_b64decode(body["key"]))
    [received] = cases_api.events("vn.lienganh.case.received.v1")
    police = received["identity_views"]["police"]
    shown = open_view(released, case_id=case_id, agency="police", tokens=police)
    assert shown == POLICE_VIEW
    assert body["fields"] == sorted(POLICE_VIEW)
    with pytest.raises(Exception, match="authentication failed"):
        open_view(
            released, case_id=case_id, agency="dolisa", tokens=received["identity_views"]["dolisa"]
        )
    [audit] = [
        a
        for a in cases_api.events("vn.lienganh.audit.recorded.v1")
        if a["resource_type"] == "case_identity"
    ]
    assert (audit["actor"], audit["actor_agency"], audit["resource_id"]) == (
        "police-inspector-01",
        "police",
        case_id,
    )
    assert audit["detail"] == (
        f"view of police for referral {referral_id}: " + ", ".join(sorted(POLICE_VIEW))
    )


@pytest.mark.parametrize(
    ("agency", "role", "province", "status"),
    [
        ("police", "inspector", "01", 200),
        ("police", "case_worker", "01", 200),
        ("police", "supervisor", "01", 200),
        ("police", "viewer", "01", 403),
        ("police", "admin", "01", 403),
        ("police", "intake", "01", 403),
        ("police", "coordinator", "01", 403),
        ("police", "referral_router", "01", 403),
        ("police", "inspector", "79", 404),  # another province: not disclosed
        ("dolisa", "case_worker", "01", 404),  # no referral of dolisa for this case
        ("education", "inspector", "01", 404),
        ("referrals", "referral_router", "*", 403),  # the old back door is gone
    ],
)
def test_need_to_know_by_relationship(
    cases_api: CasesApi, agency: str, role: str, province: str, status: int
):
    case_id = create(cases_api)
    referral_id = refer(cases_api, case_id, "police", ReferralState.ACCEPTED, 2)
    answer = ask(cases_api, case_id, referral_id, officer(cases_api, agency, role, province))
    assert answer.status_code == status, answer.text
    assert ("key" in answer.json()) is (status == 200)


def test_a_referral_of_another_case_opens_nothing(cases_api: CasesApi):
    first, second = create(cases_api), create(cases_api)
    referral_id = refer(cases_api, first, "police", ReferralState.ACCEPTED, 2)
    assert ask(cases_api, second, referral_id, officer(cases_api)).status_code == 404
    assert ask(cases_api, str(uuid.uuid4()), referral_id, officer(cases_api)).status_code == 404


@pytest.mark.parametrize(
    "ended",
    [
        ReferralState.REJECTED,
        ReferralState.CANCELLED,
        ReferralState.COMPLETED,
        ReferralState.FAILED,
    ],
)
def test_an_ended_referral_stops_opening_at_once(cases_api: CasesApi, ended: ReferralState):
    case_id = create(cases_api)
    referral_id = refer(cases_api, case_id, "police", ReferralState.ACCEPTED, 2)
    assert ask(cases_api, case_id, referral_id, officer(cases_api)).status_code == 200
    refer(cases_api, case_id, "police", ended, 3)
    answer = ask(cases_api, case_id, referral_id, officer(cases_api))
    assert answer.status_code == 403 and "ended" in answer.json()["detail"]


def test_a_completed_referral_may_keep_opening_for_a_configured_grace(cases_api: CasesApi):
    state = cases_api.client.app.state  # type: ignore[attr-defined]
    state.service_context = replace(state.service_context, identity_grace=timedelta(hours=24))
    case_id = create(cases_api)
    referral_id = refer(cases_api, case_id, "police", ReferralState.COMPLETED, 5)
    assert ask(cases_api, case_id, referral_id, officer(cases_api)).status_code == 200
    refer(cases_api, case_id, "dolisa", ReferralState.CANCELLED, 2)
    cancelled = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case_id}/dolisa"))
    dolisa = officer(cases_api, "dolisa", "case_worker")
    assert ask(cases_api, case_id, cancelled, dolisa).status_code == 403  # no grace


def test_an_erased_identity_gives_no_key_and_shows_no_child(cases_api: CasesApi):
    from cases.handlers import erasure

    case_id = create(cases_api)
    referral_id = refer(cases_api, case_id, "police", ReferralState.ACCEPTED, 2)
    with unit_of_work(cases_api.engine, source="/tests") as uow:
        store = SqlStore(uow)
        result = erasure.erase_identity(store, case_id, actor="dpo-01", now=datetime.now(UTC))
    assert result.case_ids == (case_id,)
    assert ask(cases_api, case_id, referral_id, officer(cases_api)).status_code == 410
    shown = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
    assert shown["child"] is None and shown["identity_erased_at"]
    with Session(cases_api.engine) as session:
        record = session.get(CaseRecord, case_id)
        assert record is not None and record.child_name_enc == "" and record.dedup_key is None
    [erased] = cases_api.events("vn.lienganh.case.identity_erased.v1")
    assert erased["case_id"] == case_id and erased["actor"] == "dpo-01"
