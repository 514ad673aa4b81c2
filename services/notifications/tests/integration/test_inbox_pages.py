"""Web inbox sign-in and its failure pages, without a browser (the Chromium flow against the
whole system is in tests/e2e/test_inspector_inbox.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chassis.auth import LocalIssuer
from localrun.kafka import free_port
from notifications.bootstrap import create_api
from notifications.config import NotificationsSettings


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestClient, LocalIssuer]]:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    # Police's API is configured but nothing listens there; education has none at all.
    settings = NotificationsSettings(
        data_dir=tmp_path,
        agency_api_urls={"police": f"http://127.0.0.1:{free_port()}"},
        send_timeout_s=2,
    )
    with TestClient(create_api(settings), follow_redirects=False) as client:
        yield client, issuer


def test_without_a_session_the_inbox_asks_to_sign_in(site):
    client, _ = site
    response = client.get("/inbox")
    assert (response.status_code, response.headers["location"]) == (303, "/inbox/login")
    assert client.get("/inbox/referrals/x").headers["location"] == "/inbox/login"


def test_a_token_that_cannot_be_trusted_is_refused_with_the_reason(site):
    client, issuer = site
    response = client.post("/inbox/login", data={"token": "abc.def.ghi"})
    assert response.status_code == 401
    assert "malformed token" in response.text
    expired = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"], ttl_s=-120)
    assert "token expired" in client.post("/inbox/login", data={"token": expired}).text


def test_a_valid_token_is_kept_in_an_httponly_strict_cookie(site):
    client, issuer = site
    token = issuer.mint("police-inspector-hcm-01", "police", ["inspector"], ["79"])
    response = client.post("/inbox/login", data={"token": token})
    assert (response.status_code, response.headers["location"]) == (303, "/inbox")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/inbox" in cookie


def test_an_unreachable_or_unconfigured_agency_api_is_shown_not_hidden(site):
    client, issuer = site
    police = issuer.mint("police-inspector-hcm-01", "police", ["inspector"], ["79"])
    client.post("/inbox/login", data={"token": police})
    page = client.get("/inbox")
    assert page.status_code == 200
    assert "agency police did not answer" in page.text
    assert "Referral inbox" in page.text  # this officer reads English (directory seed)

    education = issuer.mint("education-officer-hn-01", "education", ["case_worker"], ["01"])
    client.post("/inbox/login", data={"token": education})
    page = client.get("/inbox")
    assert "no API configured for agency &#39;education&#39;" in page.text
    assert "Hộp thư chuyển tuyến" in page.text
    failed = client.post("/inbox/referrals/some-id/accept", data={"version": "1"})
    assert failed.status_code == 502
