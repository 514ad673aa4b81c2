"""The inspector web inbox in headless Chromium, on a phone-sized screen, against the whole
system: sign in with a token, see a new referral, accept it, see the state change, and see a
stale second accept refused clearly. And what it must refuse: another site's forms (accept,
sign-in), a session cookie kept past sign-out, being framed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from notifications.api.inbox import SESSION_COOKIE
from tests.e2e.test_walking_skeleton import CANARY_NAME, report
from tests.support.browser import LAUNCH_ARGS, OtherSite, artifact, ensure_chromium
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}
REFUSED = "Yêu cầu bị từ chối"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def other_site() -> Iterator[OtherSite]:
    with OtherSite() as site:
        yield site


def sign_in(context: BrowserContext, inbox_url: str, token: str) -> Page:
    page = context.new_page()
    page.goto(f"{inbox_url}/login")
    page.fill("#token", token)
    page.click("#sign-in")
    expect(page).to_have_url(inbox_url)
    return page


def new_police_referral(system: RunningSystem, police_token: str) -> dict:
    hotline = system.token("hotline-operator-hn-01", "hotline_111", ["intake"], ["01"])
    created = system.post("cases", "/cases", hotline, report())
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    def arrived() -> dict:
        inbox = system.get("agency-police", "/referrals", police_token, limit=500).json()
        return next(item for item in inbox if item["case_id"] == case_id)

    return eventually(arrived)


def test_an_inspector_signs_in_sees_a_new_referral_and_accepts_it(
    system: RunningSystem, browser: Browser
):
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    referral = new_police_referral(system, police)
    inbox_url = system.url("notifications", "/inbox")

    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page = context.new_page()
    page.goto(inbox_url)
    expect(page).to_have_url(f"{inbox_url}/login")
    page.fill("#token", police)
    page.click("#sign-in")
    expect(page).to_have_url(inbox_url)

    card = page.locator(f'[data-referral-id="{referral["id"]}"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("mua bán trẻ em")
    expect(card).to_contain_text("khẩn cấp")
    expect(card).to_contain_text("Hạn tiếp nhận")

    def notified() -> None:
        page.reload()
        notes = page.locator("#notifications")
        assert "Yêu cầu chuyển tuyến mới" in notes.inner_text(timeout=2000)

    eventually(notified)
    assert CANARY_NAME not in page.content()
    page.screenshot(path=str(artifact("inspector-inbox.png")), full_page=True)

    # A second tab opens the same referral at version 1 before it is accepted.
    second = context.new_page()
    second.goto(f"{inbox_url}/referrals/{referral['id']}")
    expect(second.locator("#version")).to_have_text("1")

    card.locator("a.open").click()
    page.click("#accept")
    expect(page.locator("#done")).to_contain_text("Đã tiếp nhận")
    expect(page.locator("#state")).to_have_attribute("data-state", "accepted")
    page.screenshot(path=str(artifact("inspector-referral-accepted.png")), full_page=True)
    accepted = system.get("agency-police", f"/referrals/{referral['id']}", police).json()
    assert (accepted["state"], accepted["version"]) == ("accepted", 2)

    second.click("#accept")  # stale: the referral is at version 2 now
    expect(second.locator("#stale")).to_be_visible()
    expect(second.locator("#state")).to_have_attribute("data-state", "accepted")
    second.screenshot(path=str(artifact("inspector-referral-stale.png")), full_page=True)

    [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] is True
    assert police not in cookie["value"] and police not in page.evaluate("document.cookie")
    context.close()


def test_an_inspector_rejects_a_referral_with_a_reason(system: RunningSystem, browser: Browser):
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    referral = new_police_referral(system, police)
    inbox_url = system.url("notifications", "/inbox")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{inbox_url}/login")
    page.fill("#token", police)
    page.click("#sign-in")
    page.goto(f"{inbox_url}/referrals/{referral['id']}")
    page.fill("#reason", "Không thuộc thẩm quyền của đơn vị")
    page.click("#reject")
    expect(page.locator("#done")).to_contain_text("Đã từ chối")
    expect(page.locator("#state")).to_have_attribute("data-state", "rejected")
    expect(page.locator("#accept")).to_have_count(0)  # nothing left to decide
    rejected = system.get("agency-police", f"/referrals/{referral['id']}", police).json()
    assert (rejected["state"], rejected["version"]) == ("rejected", 2)
    context.close()


def test_a_bad_token_is_refused_with_the_reason(system: RunningSystem, browser: Browser):
    page = browser.new_page(viewport=PHONE)
    page.goto(system.url("notifications", "/inbox/login"))
    page.fill("#token", "not-a-token")
    page.click("#sign-in")
    expect(page.locator('[role="alert"]')).to_contain_text("malformed token")
    assert httpx.get(system.url("notifications", "/inbox"), timeout=10).status_code in (200, 303)
    page.close()


def test_a_form_on_another_site_cannot_accept_for_a_signed_in_inspector(
    system: RunningSystem, browser: Browser, other_site: OtherSite
):
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    referral = new_police_referral(system, police)
    inbox_url = system.url("notifications", "/inbox")
    context = browser.new_context(viewport=PHONE)
    page = sign_in(context, inbox_url, police)
    # Auto-submits on load, as a page the inspector merely visits would.
    attack = f"""<!doctype html><body onload="document.forms[0].submit()">
      <form method="post" action="{inbox_url}/referrals/{referral["id"]}/accept">
        <input name="version" value="1"><input name="csrf_token" value="guessed">
      </form></body>"""
    # 127.0.0.1 on another port: another origin of the same site, so the Strict session
    # cookie does go along and only the inbox's own checks stand in the way. localhost:
    # another site, so the cookie stays behind as well.
    for host in ("127.0.0.1", "localhost"):
        url = other_site.serve(f"/accept-{host}", attack, host=host)
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/accept")
        ) as posted:
            page.goto(url)
        assert posted.value.status == 403, host
        expect(page.locator('[role="alert"]')).to_contain_text(REFUSED)
        page.screenshot(path=str(artifact(f"inspector-cross-site-{host}.png")), full_page=True)

    unchanged = system.get("agency-police", f"/referrals/{referral['id']}", police).json()
    assert (unchanged["state"], unchanged["version"]) == ("requested", 1)
    page.goto(f"{inbox_url}/referrals/{referral['id']}")  # still signed in, nothing done
    expect(page.locator("#state")).to_have_attribute("data-state", "requested")
    context.close()


def test_another_site_cannot_sign_an_inspector_in_as_someone_else(
    system: RunningSystem, browser: Browser, other_site: OtherSite
):
    intruder = system.token("police-inspector-hcm-01", "police", ["inspector"], ["79"])
    inbox_url = system.url("notifications", "/inbox")
    url = other_site.serve(
        "/login",
        f"""<!doctype html><body onload="document.forms[0].submit()">
          <form method="post" action="{inbox_url}/login">
            <input name="token" value="{intruder}"><input name="csrf_token" value="guessed">
          </form></body>""",
    )
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{inbox_url}/login")  # the inspector has the sign-in page (and its cookie)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.goto(url)
    assert posted.value.status == 403
    expect(page.locator('[role="alert"]')).to_contain_text(REFUSED)
    assert [c for c in context.cookies() if c["name"] == SESSION_COOKIE] == []
    page.goto(inbox_url)
    expect(page).to_have_url(f"{inbox_url}/login")
    context.close()


def test_a_session_cookie_kept_past_sign_out_opens_nothing(system: RunningSystem, browser: Browser):
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    inbox_url = system.url("notifications", "/inbox")
    context = browser.new_context(viewport=PHONE)
    page = sign_in(context, inbox_url, police)
    [copied] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    page.click("#sign-out")
    expect(page).to_have_url(f"{inbox_url}/login")
    assert [c for c in context.cookies() if c["name"] == SESSION_COOKIE] == []
    context.close()

    replay = browser.new_context(viewport=PHONE)
    replay.add_cookies([copied])
    page = replay.new_page()
    page.goto(inbox_url)
    expect(page).to_have_url(f"{inbox_url}/login")
    expect(page.locator("#officer")).to_have_count(0)
    replay.close()


def test_the_session_cookie_is_locked_down_and_the_referral_page_cannot_be_framed(
    system: RunningSystem, browser: Browser, other_site: OtherSite
):
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    referral = new_police_referral(system, police)
    inbox_url = system.url("notifications", "/inbox")
    context = browser.new_context(viewport=PHONE)
    page = sign_in(context, inbox_url, police)
    # Chromium keeps and sends a Secure cookie over http://127.0.0.1 (a secure context):
    # signing in above worked with it.
    [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")
    assert cookie["path"] == "/inbox"

    referral_url = f"{inbox_url}/referrals/{referral['id']}"
    response = page.goto(referral_url)
    assert response is not None and response.status == 200
    headers = response.headers
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'"):
        assert directive in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    # The stylesheet, allowed by its hash, applies: the header is the inbox's blue.
    header_colour = "getComputedStyle(document.querySelector('header')).backgroundColor"
    assert page.evaluate(header_colour) == "rgb(13, 71, 161)"

    framing = other_site.serve("/frame", f'<!doctype html><iframe src="{referral_url}"></iframe>')
    with page.expect_response(lambda r: r.url == referral_url) as framed:
        page.goto(framing)
    assert framed.value.status == 200  # served, and the browser refused to show it
    page.wait_for_load_state("load")
    expect(page.frame_locator("iframe").locator("#state")).to_have_count(0)
    assert [f.url for f in page.frames if f.url == referral_url] == []
    context.close()
