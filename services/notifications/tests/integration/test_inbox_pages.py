"""Web inbox sign-in, sessions and failure pages, without a browser (the Chromium flow against
the whole system is in tests/e2e/test_inspector_inbox.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from chassis.auth import LocalIssuer
from notifications.adapters.inbox_sessions import open_session
from notifications.adapters.tables import InboxSession, utc_now


def test_without_a_session_the_inbox_asks_to_sign_in(site):
    response = site.client.get("/inbox")
    assert (response.status_code, response.headers["location"]) == (303, "/inbox/login")
    assert site.client.get("/inbox/referrals/x").headers["location"] == "/inbox/login"


def test_a_token_that_cannot_be_trusted_is_refused_with_the_reason(site):
    response = site.sign_in("abc.def.ghi")
    assert response.status_code == 401
    assert "malformed token" in response.text
    assert "token expired" in site.sign_in(site.token(ttl_s=-120)).text
    assert site.session_cookie() == ""
    with Session(site.engine) as session:
        assert session.exec(select(InboxSession)).first() is None


def test_signing_in_gives_the_browser_only_a_random_session_id_in_a_strict_cookie(site):
    token = site.token("police-inspector-hcm-01")
    response = site.sign_in(token)
    assert (response.status_code, response.headers["location"]) == (303, "/inbox")
    [cookie] = [c for c in response.headers.get_list("set-cookie") if "inbox_session=" in c]
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/inbox"):
        assert flag in cookie, cookie
    session_id = site.session_cookie()
    assert len(session_id) >= 43 and session_id not in token and token not in cookie

    with Session(site.engine) as session:
        [row] = session.exec(select(InboxSession)).all()
    assert row.id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in str(row.model_dump())
    assert token not in row.sealed_token
    assert (row.subject, row.agency) == ("police-inspector-hcm-01", "police")
    assert site.client.get("/inbox").status_code == 200


def test_signing_out_ends_the_session_so_a_copied_cookie_opens_nothing(site):
    site.sign_in(site.token())
    copied = site.session_cookie()
    csrf = site.csrf("/inbox", "/inbox/logout")
    response = site.client.post("/inbox/logout", data={"csrf_token": csrf})
    assert (response.status_code, response.headers["location"]) == (303, "/inbox/login")
    with Session(site.engine) as session:
        assert session.exec(select(InboxSession)).first() is None

    site.client.cookies.set("lienganh_inbox_session", copied, path="/inbox")
    assert site.client.get("/inbox").headers["location"] == "/inbox/login"
    after = site.client.post("/inbox/referrals/x/accept", data={"version": "1", "csrf_token": csrf})
    assert after.headers["location"] == "/inbox/login"


def test_signing_in_again_ends_the_earlier_session(site):
    site.sign_in(site.token())
    first = site.session_cookie()
    site.sign_in(site.token("police-inspector-hcm-01"))
    assert site.session_cookie() != first
    with Session(site.engine) as session:
        [row] = session.exec(select(InboxSession)).all()
    assert row.subject == "police-inspector-hcm-01"


def test_an_expired_session_sends_the_officer_to_sign_in(site):
    session = open_session(
        site.engine,
        token=site.token(),
        subject="police-inspector-hn-01",
        agency="police",
        now=utc_now() - timedelta(hours=9),
        max_age_s=8 * 3600,
    )
    site.client.cookies.set("lienganh_inbox_session", session.session_id, path="/inbox")
    assert site.client.get("/inbox").headers["location"] == "/inbox/login"


def test_a_session_whose_token_no_longer_verifies_is_ended(site, tmp_path: Path):
    # A token this site does not trust (say, its issuer's key was rotated) in a live session.
    stranger = LocalIssuer(tmp_path / "other-keys").mint(
        "police-inspector-hn-01", "police", ["inspector"], ["01"]
    )
    session = open_session(
        site.engine,
        token=stranger,
        subject="police-inspector-hn-01",
        agency="police",
        now=utc_now(),
        max_age_s=3600,
    )
    site.client.cookies.set("lienganh_inbox_session", session.session_id, path="/inbox")
    assert site.client.get("/inbox").headers["location"] == "/inbox/login"
    with Session(site.engine) as db:
        assert db.exec(select(InboxSession)).first() is None


def test_an_unreachable_or_unconfigured_agency_api_is_shown_not_hidden(site):
    site.sign_in(site.token("police-inspector-hcm-01"))
    page = site.client.get("/inbox")
    assert page.status_code == 200
    assert "agency police did not answer" in page.text
    assert "Referral inbox" in page.text  # this officer reads English (directory seed)

    education = site.issuer.mint("education-officer-hn-01", "education", ["case_worker"], ["01"])
    site.sign_in(education)
    page = site.client.get("/inbox")
    assert "no API configured for agency &#39;education&#39;" in page.text
    assert "Hộp thư chuyển tuyến" in page.text
    csrf = site.csrf("/inbox", "/inbox/logout")
    failed = site.client.post(
        "/inbox/referrals/some-id/accept", data={"version": "1", "csrf_token": csrf}
    )
    assert failed.status_code == 502
