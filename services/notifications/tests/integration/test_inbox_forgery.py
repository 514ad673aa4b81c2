"""The web inbox acts only on its own forms: a CSRF token in every form, a POST from another
site refused (403, nothing changed), and security headers on every response."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from notifications.adapters.tables import InboxSession

ACCEPT = "/inbox/referrals/ref-1/accept"
REFUSED = "this form did not come from this site"


@pytest.fixture
def signed_in(site, agency_api):
    site.sign_in(site.token("police-inspector-hcm-01"))  # reads English
    return site


def accept(site, csrf: str, **headers: str):
    return site.client.post(ACCEPT, data={"version": "1", "csrf_token": csrf}, headers=headers)


def test_every_form_carries_the_sessions_csrf_token(signed_in):
    page = signed_in.client.get("/inbox/referrals/ref-1").text
    forms = re.findall(r"<form .*?</form>", page, re.S)
    assert len(forms) == 3  # sign out, accept, reject
    tokens = {re.search(r'name="csrf_token" value="([^"]+)"', form).group(1) for form in forms}
    assert len(tokens) == 1
    with Session(signed_in.engine) as session:
        assert tokens == {session.exec(select(InboxSession)).one().csrf_token}


def test_an_action_with_the_right_token_from_this_site_is_done(signed_in, agency_api):
    csrf = signed_in.csrf("/inbox/referrals/ref-1", ACCEPT)
    done = accept(signed_in, csrf, origin="https://testserver", **{"sec-fetch-site": "same-origin"})
    assert (done.status_code, done.headers["location"]) == (
        303,
        "/inbox/referrals/ref-1?done=accept",
    )
    assert agency_api.actions == [("ref-1", "accept", {"version": 1})]


@pytest.mark.parametrize("csrf", ["", "guessed", "ünïcode"])
def test_an_action_without_the_sessions_csrf_token_is_refused(signed_in, agency_api, csrf):
    refused = accept(signed_in, csrf)
    assert refused.status_code == 403
    assert REFUSED in refused.text
    assert agency_api.actions == []


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://testserver"},  # another scheme is another origin
        {"origin": "https://testserver:8443"},
        {"origin": "null"},  # sandboxed frames and cross-origin redirects
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # a sibling subdomain
        {"origin": "https://testserver", "sec-fetch-site": "cross-site"},
    ],
)
def test_a_post_another_site_sent_is_refused_even_with_the_token(signed_in, agency_api, headers):
    csrf = signed_in.csrf("/inbox/referrals/ref-1", ACCEPT)
    refused = accept(signed_in, csrf, **headers)
    assert refused.status_code == 403
    assert REFUSED in refused.text
    assert agency_api.actions == []
    # Not even a malformed form gets further than the refusal.
    bare = signed_in.client.post(ACCEPT, headers=headers)
    assert bare.status_code == 403


def test_a_null_origin_from_this_sites_own_page_is_accepted(signed_in, agency_api):
    # Under Referrer-Policy: no-referrer, Chromium posts our own forms with `Origin: null`;
    # its Fetch Metadata, which no page can set, still says the form is same-origin.
    csrf = signed_in.csrf("/inbox/referrals/ref-1", ACCEPT)
    done = accept(signed_in, csrf, origin="null", **{"sec-fetch-site": "same-origin"})
    assert done.status_code == 303
    assert len(agency_api.actions) == 1


def test_the_public_inbox_url_is_this_sites_origin_too(signed_in, agency_api):
    # Behind a TLS proxy the app sees http://…; the browser's Origin is the public URL's.
    state = signed_in.client.app.state
    state.service_context = replace(
        state.service_context, inbox_url="https://inbox.lienganh.example.vn/inbox"
    )
    csrf = signed_in.csrf("/inbox/referrals/ref-1", ACCEPT)
    done = accept(signed_in, csrf, origin="https://inbox.lienganh.example.vn")
    assert done.status_code == 303
    assert len(agency_api.actions) == 1


def test_signing_out_needs_the_csrf_token(signed_in):
    refused = signed_in.client.post("/inbox/logout", data={"csrf_token": "guessed"})
    assert refused.status_code == 403
    assert signed_in.client.get("/inbox").status_code == 200  # still signed in
    csrf = signed_in.csrf("/inbox", "/inbox/logout")
    foreign = signed_in.client.post(
        "/inbox/logout", data={"csrf_token": csrf}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert signed_in.client.get("/inbox").status_code == 200


def test_signing_in_needs_the_login_forms_own_token(site):
    token = site.token()
    # Login CSRF: another site posting its own token to sign the officer in as someone else.
    for data, headers in [
        ({"token": token}, {}),
        ({"token": token, "csrf_token": "guessed"}, {}),
    ]:
        assert site.client.post("/inbox/login", data=data, headers=headers).status_code == 403
    csrf = site.csrf("/inbox/login", "/inbox/login")
    foreign = site.client.post(
        "/inbox/login",
        data={"token": token, "csrf_token": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    # The double submit: a fresh client has the form's token but not the cookie it came with.
    with TestClient(site.client.app, base_url="https://testserver") as stranger:
        posted = stranger.post("/inbox/login", data={"token": token, "csrf_token": csrf})
        assert posted.status_code == 403
    assert site.session_cookie() == ""
    with Session(site.engine) as session:
        assert session.exec(select(InboxSession)).first() is None


def test_the_login_forms_token_lives_in_a_short_lived_strict_cookie(site):
    page = site.client.get("/inbox/login")
    [cookie] = [c for c in page.headers.get_list("set-cookie") if "inbox_login=" in c]
    for flag in ("Max-Age=900", "Secure", "HttpOnly", "SameSite=strict", "Path=/inbox"):
        assert flag in cookie, cookie
    signed_in = site.sign_in(site.token())
    [spent] = [c for c in signed_in.headers.get_list("set-cookie") if "inbox_login=" in c]
    assert "Max-Age=0" in spent  # used once, then forgotten


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/inbox"),
        ("GET", "/inbox/login"),
        ("GET", "/inbox/referrals/ref-1"),
        ("POST", "/inbox/logout"),
        ("POST", ACCEPT),
        ("GET", "/inbox/no-such-page"),
    ],
)
def test_every_inbox_response_carries_the_security_headers(signed_in, method, path):
    response = signed_in.client.request(method, path)
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_the_only_inline_style_is_the_stylesheet_the_csp_allows_by_hash(signed_in):
    for path in ("/inbox", "/inbox/login", "/inbox/referrals/ref-1"):
        page = signed_in.client.get(path)
        assert "style=" not in page.text and "<script" not in page.text
        assert re.search(r"\son\w+=", page.text) is None  # no inline event handlers
        [stylesheet] = re.findall(r"<style>(.*?)</style>", page.text, re.S)
        digest = base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]
        assert "--urgent" in stylesheet


def test_other_routes_keep_their_own_headers(site):
    assert "content-security-policy" not in site.client.get("/healthz").headers
