"""The admin API of the officers directory, over real HTTP routing and a real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chassis.auth import LocalIssuer
from notifications.bootstrap import create_api
from notifications.config import NotificationsSettings

OFFICER = {
    "id": "dolisa-officer-dn-03",
    "name": "Huỳnh Thị Mỹ Duyên",
    "agency": "dolisa",
    "role": "case_worker",
    "provinces": ["48"],
    "language": "en",
    "channels": [{"kind": "in_app"}, {"kind": "sms", "address": "+84905111222"}],
}
HOOK = "https://hooks.dolisa.example.vn/lienganh"


class Api:
    def __init__(self, client: TestClient, issuer: LocalIssuer) -> None:
        self.client = client
        self.issuer = issuer
        self.admin = self.headers("directory-admin-01", "dolisa", "admin", "*")
        self.officer = self.headers("police-inspector-hn-01", "police", "inspector", "01")

    def headers(self, subject: str, agency: str, role: str, *provinces: str) -> dict[str, str]:
        token = self.issuer.mint(subject, agency, [role], list(provinces))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    settings = NotificationsSettings(
        data_dir=tmp_path,
        database_url=database_url,
        webhook_allowed_hosts=["hooks.dolisa.example.vn"],
    )
    with TestClient(create_api(settings)) as client:
        yield Api(client, issuer)


def test_an_admin_sees_only_the_officers_of_their_agency(api: Api):
    listed = api.client.get("/directory/officers", headers=api.admin)
    assert listed.status_code == 200
    assert {officer["agency"] for officer in listed.json()} == {"dolisa"}
    assert {"dolisa-caseworker-hn-01", "coordinator-hn-01"} <= {o["id"] for o in listed.json()}
    hanoi = api.headers("dolisa-admin-hn", "dolisa", "admin", "01")
    ids = {officer["id"] for officer in api.client.get("/directory/officers", headers=hanoi).json()}
    assert "dolisa-caseworker-hn-01" in ids and "dolisa-caseworker-hcm-01" not in ids


def test_an_admin_creates_reads_replaces_and_deletes_an_officer(api: Api):
    created = api.client.post("/directory/officers", json=OFFICER, headers=api.admin)
    assert created.status_code == 201, created.text
    path = f"/directory/officers/{OFFICER['id']}"
    assert api.client.get(path, headers=api.admin).json()["language"] == "en"
    again = api.client.post("/directory/officers", json=OFFICER, headers=api.admin)
    assert again.status_code == 409

    replacement = {k: v for k, v in OFFICER.items() if k != "id"} | {"language": "vi"}
    replaced = api.client.put(path, json=replacement, headers=api.admin)
    assert replaced.status_code == 200, replaced.text
    assert api.client.get(path, headers=api.admin).json()["language"] == "vi"

    # The only case worker in Đà Nẵng: a colleague first, then they may go.
    assert api.client.delete(path, headers=api.admin).status_code == 409
    colleague = OFFICER | {"id": "dolisa-officer-dn-04"}
    assert (
        api.client.post("/directory/officers", json=colleague, headers=api.admin).status_code == 201
    )
    assert api.client.delete(path, headers=api.admin).status_code == 204
    assert api.client.get(path, headers=api.admin).status_code == 404
    assert api.client.delete(path, headers=api.admin).status_code == 404


def test_an_admin_cannot_touch_another_agencys_or_provinces_officers(api: Api):
    police = "/directory/officers/police-inspector-hn-01"
    for answer in (
        api.client.get(police, headers=api.admin),
        api.client.delete(police, headers=api.admin),
        api.client.put(
            police, json={**OFFICER, "agency": "police"} | {"id": None}, headers=api.admin
        ),
    ):
        assert answer.status_code in (404, 422), answer.text
    assert api.client.get(police, headers=api.admin).status_code == 404
    other = OFFICER | {"agency": "police"}
    assert api.client.post("/directory/officers", json=other, headers=api.admin).status_code == 403
    hanoi = api.headers("dolisa-admin-hn", "dolisa", "admin", "01")
    elsewhere = api.client.post("/directory/officers", json=OFFICER, headers=hanoi)
    assert elsewhere.status_code == 403  # Đà Nẵng (48) is not a Hà Nội admin's
    national = OFFICER | {"provinces": ["*"]}
    assert api.client.post("/directory/officers", json=national, headers=hanoi).status_code == 403
    saigon = "/directory/officers/dolisa-caseworker-hcm-01"
    assert api.client.delete(saigon, headers=hanoi).status_code == 404


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        (HOOK, True),
        ("http://hooks.dolisa.example.vn/lienganh", False),  # not https
        ("https://127.0.0.1:8080/steal", False),  # not on the allow-list
        ("https://hooks.dolisa.example.vn.evil.example/x", False),
    ],
)
def test_webhooks_only_to_allow_listed_https_hosts(api: Api, address: str, allowed: bool):
    hook = {"kind": "webhook", "address": address, "secret_ref": "dolisa"}
    officer = OFFICER | {"channels": [{"kind": "in_app"}, hook]}
    answer = api.client.post("/directory/officers", json=officer, headers=api.admin)
    assert answer.status_code == (201 if allowed else 422), answer.text
    if not allowed:
        assert answer.json()["detail"][0]["field"] == "body.channels"


def test_a_change_that_would_leave_a_rule_unheard_is_refused(api: Api):
    police_admin = api.headers("police-admin-01", "police", "admin", "*")
    last = "/directory/officers/police-inspector-hcm-01"  # the only police officer in 79
    refused = api.client.delete(last, headers=police_admin)
    assert refused.status_code == 409
    assert "referral_requested for police in province 79" in refused.json()["detail"]
    moved = {
        "name": "Ngô Thanh Tâm",
        "agency": "police",
        "role": "inspector",
        "provinces": ["01"],
    }
    assert api.client.put(last, json=moved, headers=police_admin).status_code == 409
    stand_in = {
        "id": "police-inspector-hcm-02",
        "name": "Lý Văn Giả Định",
        "agency": "police",
        "role": "inspector",
        "provinces": ["79"],
    }
    assert (
        api.client.post("/directory/officers", json=stand_in, headers=police_admin).status_code
        == 201
    )
    assert api.client.delete(last, headers=police_admin).status_code == 204


def test_an_invalid_officer_is_refused_naming_the_field(api: Api):
    bad_role = OFFICER | {"role": "boss"}
    response = api.client.post("/directory/officers", json=bad_role, headers=api.admin)
    assert response.status_code == 422
    assert "role" in {error["field"].split(".")[-1] for error in response.json()["detail"]}

    bad_sms = OFFICER | {"channels": [{"kind": "sms", "address": "call me"}]}
    response = api.client.post("/directory/officers", json=bad_sms, headers=api.admin)
    assert response.status_code == 422
    assert "channels" in response.text and "valid sms address" in response.text


def test_only_admins_manage_the_directory(api: Api):
    assert api.client.get("/directory/officers", headers=api.officer).status_code == 403
    assert api.client.post("/directory/officers", json=OFFICER).status_code == 401
