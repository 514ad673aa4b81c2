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
    "id": "education-officer-dn-03",
    "name": "Huỳnh Thị Mỹ Duyên",
    "agency": "education",
    "role": "case_worker",
    "provinces": ["48"],
    "language": "en",
    "channels": [{"kind": "in_app"}, {"kind": "sms", "address": "+84905111222"}],
}


class Api:
    def __init__(self, client: TestClient, issuer: LocalIssuer) -> None:
        self.client = client
        admin = issuer.mint("directory-admin-01", "dolisa", ["admin"], ["*"])
        officer = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.officer = {"Authorization": f"Bearer {officer}"}


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    settings = NotificationsSettings(data_dir=tmp_path, database_url=database_url)
    with TestClient(create_api(settings)) as client:
        yield Api(client, issuer)


def test_the_directory_starts_from_the_seed(api: Api):
    listed = api.client.get("/directory/officers", headers=api.admin)
    assert listed.status_code == 200
    ids = {officer["id"] for officer in listed.json()}
    assert {"police-inspector-hn-01", "coordinator-hn-01"} <= ids


def test_an_admin_creates_reads_replaces_and_deletes_an_officer(api: Api):
    created = api.client.post("/directory/officers", json=OFFICER, headers=api.admin)
    assert created.status_code == 201, created.text
    path = f"/directory/officers/{OFFICER['id']}"
    assert api.client.get(path, headers=api.admin).json()["language"] == "en"
    again = api.client.post("/directory/officers", json=OFFICER, headers=api.admin)
    assert again.status_code == 409

    replacement = {k: v for k, v in OFFICER.items() if k != "id"} | {"role": "supervisor"}
    replaced = api.client.put(path, json=replacement, headers=api.admin)
    assert replaced.status_code == 200, replaced.text
    assert api.client.get(path, headers=api.admin).json()["role"] == "supervisor"

    assert api.client.delete(path, headers=api.admin).status_code == 204
    assert api.client.get(path, headers=api.admin).status_code == 404
    assert api.client.delete(path, headers=api.admin).status_code == 404


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
