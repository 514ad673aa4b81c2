"""A new referral reaches the inspector's e-mail through the local SMTP sink, in Vietnamese
and without the child's name, and the sink lists it."""

from __future__ import annotations

from email import message_from_bytes, policy

import httpx
import pytest

from tests.e2e.test_walking_skeleton import CANARY_NAME, report
from tests.support.system import RunningSystem, eventually, metric_value

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_a_new_referral_is_emailed_to_the_inspector_without_identity(system: RunningSystem):
    hotline = system.token("hotline-operator-hn-01", "hotline_111", ["intake"], ["01"])
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    created = system.post("cases", "/cases", hotline, report())
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    referral = eventually(
        lambda: next(
            r
            for r in system.get("agency-police", "/referrals", police, limit=500).json()
            if r["case_id"] == case_id
        )
    )

    def mailed() -> list:
        found = []
        for path in (system.data_dir / "mail").glob("*.eml"):
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            if referral["id"] in mail.get_content():
                found.append(mail)
        assert found
        return found

    [mail] = eventually(mailed)
    assert mail["To"] == "police-inspector-hn-01@example.vn"
    assert mail["Subject"].startswith("Yêu cầu chuyển tuyến mới")
    assert CANARY_NAME not in mail.as_string() and CANARY_NAME not in mail.get_content()
    assert "/inbox/referrals/" in mail.get_content()

    sink_page = httpx.get(f"http://127.0.0.1:{system.ports.mail_web}/", timeout=10).text
    assert "Yêu cầu chuyển tuyến mới" in sink_page
    metrics = httpx.get(
        f"http://127.0.0.1:{system.ports.worker['notifications']}/metrics", timeout=10
    ).text
    delivered = metric_value(
        metrics, "lienganh_notification_deliveries_total", channel="email", outcome="delivered"
    )
    assert delivered is not None and delivered >= 1
