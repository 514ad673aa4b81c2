"""The local SMTP sink keeps each e-mail as a file and lists it on its page."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from localrun.ports import free_port
from notifications.adapters.channels import Outgoing, SmtpSender
from notifications.mailsink import serve, stored_messages
from tests.support.system import eventually


def test_the_sink_stores_and_lists_what_it_receives(tmp_path: Path):
    smtp_port, web_port = free_port(), free_port()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(tmp_path, smtp_port, web_port, stop))
    thread.start()
    try:
        web = f"http://127.0.0.1:{web_port}"
        eventually(lambda: httpx.get(f"{web}/readyz", timeout=2).raise_for_status(), 30)
        message = Outgoing(
            id="1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            address="coordinator-hn-01@example.vn",
            secret_ref=None,
            language="vi",
            title="Chuyển tuyến quá hạn: Công an chưa xử lý",
            body="Đề nghị chỉ đạo xử lý ngay.",
            source_event_type="vn.lienganh.referral.escalated.v1",
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            referral_id=None,
            province_code="01",
            risk_level="urgent",
            deadline=None,
        )
        SmtpSender("127.0.0.1", smtp_port, "no-reply@example.vn", 10).send(message)

        [stored] = stored_messages(tmp_path)
        assert stored["subject"] == "Chuyển tuyến quá hạn: Công an chưa xử lý"
        assert (tmp_path / stored["file"]).is_file()
        page = httpx.get(web, timeout=5).text
        assert "Chuyển tuyến quá hạn" in page
        raw = httpx.get(f"{web}/messages/{stored['file']}", timeout=5)
        assert "Đề nghị chỉ đạo xử lý ngay." in raw.text
        assert httpx.get(f"{web}/messages/..%2F..%2Fetc%2Fpasswd", timeout=5).status_code == 404
    finally:
        stop.set()
        thread.join(timeout=30)
