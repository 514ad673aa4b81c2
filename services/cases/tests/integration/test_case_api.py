"""Intake, the six-step process, consent, access and audit through the cases API."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from cases.adapters.tables import CaseStageHistory, ConsentChange
from services.cases.tests.support import CasesApi, report

pytestmark = []


def create(api: CasesApi, **overrides) -> str:
    response = api.post("/cases", api.hotline(), report(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


def test_intake_records_the_case_and_announces_it_without_identity(cases_api: CasesApi):
    case_id = create(cases_api)
    [received] = cases_api.events("vn.lienganh.case.received.v1")
    assert received["case_id"] == case_id and received["age_band"] == "12-14"
    assert "Ánh" not in str(received) and "Hàng Bông" not in str(received)
    [audit] = cases_api.events("vn.lienganh.audit.recorded.v1")
    assert (audit["action"], audit["resource_id"], audit["outcome"]) == (
        "create",
        case_id,
        "allowed",
    )
    shown = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
    assert shown["child"]["full_name"] == "Phạm Thị Ngọc Ánh"
    assert shown["child"]["guardian_phone"] == "0912345678"
    assert shown["status"] == "received" and shown["version"] == 1
    assert shown["clocks"]["emergency_intervention"]["due_at"] is not None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "labour_inspection"}, "body.workplace.name"),
        (
            {
                "channel": "school",
                "summary": None,
                "child": {"full_name": "Lê Văn Tám", "sex": "male"},
            },
            "body.summary",
        ),
        (
            {"channel": "school", "child": {"full_name": "Lê Văn Tám", "sex": "male"}},
            "body.child.date_of_birth",
        ),
        (
            {
                "channel": "commune_collaborator",
                "child": {"full_name": "Lê Văn Tám", "sex": "male"},
            },
            "body.child.address",
        ),
        ({"summary": None}, "body.summary"),
        ({"commune_code": "26506"}, "body.commune_code"),
    ],
)
def test_a_report_missing_what_its_channel_needs_is_422_naming_the_field(
    cases_api: CasesApi, overrides: dict, field: str
):
    response = cases_api.post("/cases", cases_api.hotline(), report(**overrides))
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["detail"]]


def test_labour_inspection_intake_with_a_workplace_is_accepted(cases_api: CasesApi):
    workplace = {
        "name": "Xưởng may Phát Đạt",
        "address": "Lô 4 KCN Sài Đồng",
        "employer_name": "Trần Văn Đạt",
        "industry": "garment",
    }
    case_id = create(
        cases_api,
        channel="labour_inspection",
        case_type="hazardous_child_labour",
        risk_level="high",
        workplace=workplace,
        summary=None,
    )
    shown = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
    assert shown["clocks"]["emergency_intervention"]["due_at"] is None  # high is not urgent


def step(api: CasesApi, case_id: str, version: int, to_stage: str, **extra) -> object:
    body = {"to_stage": to_stage, "version": version, **extra}
    return api.post(f"/cases/{case_id}/stage", api.case_worker(), body)


def test_the_case_walks_all_six_steps_with_history_and_events(cases_api: CasesApi):
    case_id = create(cases_api)
    review = (date.today() + timedelta(days=30)).isoformat()
    steps = [
        ("assessed", {}),
        ("needs_identified", {"needs": ["safe_accommodation", "psychological_support"]}),
        ("plan_approved", {"plan": {"agencies": ["dolisa", "police"], "review_date": review}}),
        ("plan_in_progress", {}),
        ("reviewed", {}),
        ("closed", {"reason": "Em đã về với gia đình, đi học lại"}),
    ]
    for version, (stage, extra) in enumerate(steps, start=1):
        response = step(cases_api, case_id, version, stage, **extra)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == version + 1
    shown = cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()
    assert shown["status"] == "closed"
    assert shown["closure_reason"] == "Em đã về với gia đình, đi học lại"
    assert shown["needs"] == ["safe_accommodation", "psychological_support"]
    assert shown["clocks"]["emergency_intervention"]["met_at"] is not None
    assert shown["clocks"]["plan_approval"]["met_at"] is not None
    history = cases_api.get(f"/cases/{case_id}/history", cases_api.case_worker()).json()
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        ("received", "assessed"),
        ("assessed", "needs_identified"),
        ("needs_identified", "plan_approved"),
        ("plan_approved", "plan_in_progress"),
        ("plan_in_progress", "reviewed"),
        ("reviewed", "closed"),
    ]
    assert {h["actor"] for h in history} == {"dolisa-caseworker-hn-01"}
    events = cases_api.events("vn.lienganh.case.stage_changed.v1")
    assert [e["to_stage"] for e in events] == [s for s, _ in steps]
    assert events[2]["plan_agencies"] == ["dolisa", "police"] and events[2]["review_date"] == review


def test_a_forbidden_step_is_409_naming_both_stages_and_changes_nothing(cases_api: CasesApi):
    case_id = create(cases_api)
    response = step(cases_api, case_id, 1, "plan_approved")
    assert response.status_code == 409
    assert "'received'" in response.json()["detail"]
    assert "'plan_approved'" in response.json()["detail"]
    assert cases_api.events("vn.lienganh.case.stage_changed.v1") == []
    with Session(cases_api.engine) as session:
        assert session.exec(select(CaseStageHistory)).all() == []


def test_a_stale_version_is_409_and_a_missing_need_is_422(cases_api: CasesApi):
    case_id = create(cases_api)
    assert step(cases_api, case_id, 1, "assessed").status_code == 200
    stale = step(cases_api, case_id, 1, "needs_identified", needs=["education"])
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    empty = step(cases_api, case_id, 2, "needs_identified")
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["field"] == "body.needs"
    bad_need = step(cases_api, case_id, 2, "needs_identified", needs=["pocket_money"])
    assert bad_need.status_code == 422


def test_consent_is_recorded_and_a_legal_override_names_reason_and_actor(cases_api: CasesApi):
    case_id = create(cases_api, consent={"child_consented": False, "guardian_consented": False})
    assert cases_api.events("vn.lienganh.case.received.v1")[0]["consent_basis"] == "none"
    path = f"/cases/{case_id}/consent"
    given = cases_api.post(
        path, cases_api.case_worker(), {"child_consented": True, "guardian_consented": True}
    )
    assert given.status_code == 200 and given.json()["consent_basis"] == "consent"
    override = {"legal_override_reason": "Bộ luật Tố tụng hình sự: điều tra mua bán người"}
    overridden = cases_api.post(path, cases_api.case_worker(), override)
    assert overridden.json()["consent_basis"] == "legal_override"
    events = cases_api.events("vn.lienganh.case.consent_recorded.v1")
    assert [e["consent_basis"] for e in events] == ["consent", "legal_override"]
    assert events[1]["actor"] == "dolisa-caseworker-hn-01"
    assert events[1]["legal_override_reason"] == override["legal_override_reason"]
    with Session(cases_api.engine) as session:
        history = session.exec(select(ConsentChange).where(ConsentChange.case_id == case_id))
        assert [row.consent_basis for row in history] == ["none", "consent", "legal_override"]


def test_only_the_guardian_is_not_enough_for_a_child_of_seven_or_more(cases_api: CasesApi):
    case_id = create(cases_api)
    response = cases_api.post(
        f"/cases/{case_id}/consent", cases_api.case_worker(), {"guardian_consented": True}
    )
    assert response.json()["consent_basis"] == "none"


def test_other_agencies_are_403_other_provinces_404_and_denials_are_audited(
    cases_api: CasesApi,
):
    case_id = create(cases_api)
    police = cases_api.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    saigon = cases_api.token("dolisa-caseworker-hcm-01", "dolisa", ["case_worker"], ["79"])
    assert cases_api.get(f"/cases/{case_id}", police).status_code == 403
    assert cases_api.get(f"/cases/{case_id}", saigon).status_code == 404
    assert cases_api.get("/cases/no-such-case", cases_api.case_worker()).status_code == 404
    assert (
        cases_api.post(
            f"/cases/{case_id}/stage", police, {"to_stage": "assessed", "version": 1}
        ).status_code
        == 403
    )
    coordinator = cases_api.get(f"/cases/{case_id}", cases_api.coordinator()).json()
    assert coordinator["child"] is None  # coordinators manage, case workers see identity
    denied = [
        (a["actor"], a["action"])
        for a in cases_api.events("vn.lienganh.audit.recorded.v1")
        if a["outcome"] == "denied"
    ]
    assert denied == [
        ("police-inspector-hn-01", "read"),
        ("dolisa-caseworker-hcm-01", "read"),
        ("dolisa-caseworker-hn-01", "read"),
        ("police-inspector-hn-01", "update"),
    ]


def test_the_list_is_scoped_to_the_callers_provinces_with_filters_and_pages(
    cases_api: CasesApi,
):
    national = cases_api.token("hotline-national", "hotline_111", ["intake"], ["*"])
    hanoi = [create(cases_api) for _ in range(3)]
    saigon = cases_api.post(
        "/cases", national, report(province_code="79", commune_code="26506")
    ).json()["case_id"]
    listed = cases_api.get("/cases", cases_api.case_worker()).json()
    assert {row["id"] for row in listed} == set(hanoi)
    assert "child" not in listed[0]
    page = cases_api.get("/cases", cases_api.case_worker(), limit=2, offset=2).json()
    assert len(page) == 1
    everyone = cases_api.token("dolisa-national", "dolisa", ["coordinator"], ["*"])
    assert [r["id"] for r in cases_api.get("/cases", everyone, province_code="79").json()] == [
        saigon
    ]
    assert cases_api.get("/cases", cases_api.case_worker(), province_code="79").status_code == 403
    police = cases_api.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    assert cases_api.get("/cases", police).status_code == 403
    bad = cases_api.get("/cases", cases_api.case_worker(), status="lost")
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.status"
