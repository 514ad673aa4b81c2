"""Duplicate links and merges, encryption at rest."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from cases.adapters.tables import CaseReferral
from services.cases.tests.support import CasesApi, report


def create(api: CasesApi, **overrides) -> str:
    response = api.post("/cases", api.hotline(), report(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


def child(name: str, born: str = "2013-04-02") -> dict:
    return {"full_name": name, "date_of_birth": born, "sex": "female"}


def open_links(api: CasesApi) -> list[dict]:
    response = api.get("/duplicates", api.coordinator())
    assert response.status_code == 200, response.text
    return response.json()


def test_the_same_child_with_and_without_diacritics_is_linked(cases_api: CasesApi):
    first = create(cases_api, child=child("Nguyễn Thị Hoa"))
    exact = create(cases_api, channel="police", child=child("nguyễn  thị hoa"))
    plain = create(cases_api, channel="ngo", child=child("Nguyen Thi Hoa"))
    create(cases_api, child=child("Nguyễn Thị Hoa", born="2013-04-03"))  # another child
    links = {
        (link["case_id"], link["other_case_id"]): link["match"] for link in open_links(cases_api)
    }
    assert links == {
        (exact, first): "exact",
        (plain, first): "without_diacritics",
        (plain, exact): "without_diacritics",
    }


def test_confirming_a_link_merges_referrals_and_history_into_the_older_case(
    cases_api: CasesApi,
):
    kept = create(cases_api, child=child("Trần Thị Mai"))
    duplicate = create(cases_api, channel="school", child=child("Tran Thi Mai"))
    with Session(cases_api.engine) as session, session.begin():
        session.add(
            CaseReferral(
                referral_id="r-1",
                case_id=duplicate,
                agency="education",
                lead=False,
                state="accepted",
                version=2,
            )
        )
    step = {"to_stage": "assessed", "version": 1}
    assert (
        cases_api.post(f"/cases/{duplicate}/stage", cases_api.case_worker(), step).status_code
        == 200
    )
    [link] = open_links(cases_api)
    confirmed = cases_api.post(f"/duplicates/{link['id']}/confirm", cases_api.coordinator(), None)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    shown = cases_api.get(f"/cases/{kept}", cases_api.case_worker()).json()
    assert [r["referral_id"] for r in shown["referrals"]] == ["r-1"]
    assert shown["referral_status"] == "open"
    history = cases_api.get(f"/cases/{kept}/history", cases_api.case_worker()).json()
    assert [h["to_stage"] for h in history] == ["assessed"]
    gone = cases_api.get(f"/cases/{duplicate}", cases_api.case_worker()).json()
    assert (gone["merged_into"], gone["status"]) == (kept, "closed")
    [merged] = cases_api.events("vn.lienganh.case.merged.v1")
    assert (merged["case_id"], merged["merged_case_id"]) == (kept, duplicate)
    assert merged["actor"] == "dolisa-coordinator-hn-01"
    again = cases_api.post(f"/duplicates/{link['id']}/reject", cases_api.coordinator(), None)
    assert again.status_code == 409
    assert open_links(cases_api) == []


def test_rejecting_a_link_keeps_both_cases(cases_api: CasesApi):
    first = create(cases_api, child=child("Lê Thị Lan"))
    second = create(cases_api, child=child("Le Thi Lan"))
    [link] = open_links(cases_api)
    rejected = cases_api.post(f"/duplicates/{link['id']}/reject", cases_api.coordinator(), None)
    assert rejected.json()["status"] == "rejected"
    assert cases_api.events("vn.lienganh.case.merged.v1") == []
    for case_id in (first, second):
        assert (
            cases_api.get(f"/cases/{case_id}", cases_api.case_worker()).json()["merged_into"]
            is None
        )
    decided = cases_api.get("/duplicates", cases_api.coordinator(), status="rejected").json()
    assert [d["decided_by"] for d in decided] == ["dolisa-coordinator-hn-01"]


def test_only_coordinators_of_the_province_decide_links(cases_api: CasesApi):
    create(cases_api, child=child("Võ Thị Vy"))
    create(cases_api, child=child("Vo Thi Vy"))
    [link] = open_links(cases_api)
    saigon = cases_api.token("coordinator-hcm", "dolisa", ["coordinator"], ["79"])
    police = cases_api.token("police-hn", "police", ["coordinator"], ["01"])
    path = f"/duplicates/{link['id']}/confirm"
    assert cases_api.post(path, saigon, None).status_code == 404
    assert cases_api.post(path, police, None).status_code == 403
    assert cases_api.post(path, cases_api.case_worker(), None).status_code == 403
    assert cases_api.get("/duplicates", saigon).json() == []


def test_the_sqlite_file_holds_no_plaintext_identity(cases_api: CasesApi, tmp_path: Path):
    if cases_api.engine.dialect.name != "sqlite":
        return  # the file check is about SQLite; PostgreSQL stores the same tokens
    create(cases_api, workplace={"name": "Lò gạch Hưng Thịnh", "employer_name": "Đỗ Văn Cường"})
    cases_api.engine.dispose()
    database = Path(str(cases_api.engine.url.database))
    content = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for secret in (
        "Phạm Thị Ngọc Ánh",
        "Hàng Bông",
        "0912345678",
        "Phạm Văn Toản",
        "2013-04-02",
        "Lò gạch Hưng Thịnh",
        "Đỗ Văn Cường",
        "quán karaoke",
    ):
        assert secret.encode() not in content, secret
    with sqlite3.connect(database) as connection:
        token = connection.execute("select child_name_enc from cases").fetchone()[0]
    assert token.startswith("sv1.")  # sealed under the case's own data key
    assert datetime.now(UTC)  # the file was read after the write committed


def test_the_demo_seed_posts_synthetic_reports_and_plants_linked_duplicates(
    cases_api: CasesApi,
):
    from cases.seed import post_reports

    token = cases_api.token("demo-seed", "hotline_111", ["intake"], ["*"])
    accepted = post_reports(
        "http://testserver", token, count=40, duplicate_rate=0.3, client=cases_api.client
    )
    assert accepted == 40
    everyone = cases_api.token("dolisa-national", "dolisa", ["coordinator"], ["*"])
    listed = cases_api.get("/cases", everyone, limit=200).json()
    assert len(listed) == 40
    links = cases_api.get("/duplicates", everyone, limit=200).json()
    assert {link["match"] for link in links} == {"exact", "without_diacritics"}
