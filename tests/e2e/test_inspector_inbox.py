"""The inspector web inbox in headless Chromium, on a phone-sized screen, against the whole
system: sign in with a token, see a new referral, accept it, see the state change, and see a
stale second accept refused clearly."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.e2e.test_walking_skeleton import CANARY_NAME, report
from tests.support.browser import LAUNCH_ARGS, artifact, ensure_chromium
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS)
        yield browser
        browser.close()


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

    [cookie] = [c for c in context.cookies() if c["name"] == "lienganh_inbox_token"]
    assert cookie["httpOnly"] is True
    assert police not in page.evaluate("document.cookie")
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
