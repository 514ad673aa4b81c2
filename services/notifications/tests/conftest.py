"""Real servers for the channels: an SMTP server (aiosmtpd) and an HTTP server, on loopback;
and the web inbox served by the real app (TestClient over https), with a recording stand-in
for the agency API.

Each server can be told to fail or to hold a request until released, so tests drive failures
and slowness by events, never by timing.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from chassis.auth import LocalIssuer
from localrun.ports import free_port
from notifications.adapters.agency_api import AgencyReply
from notifications.bootstrap import create_api
from notifications.config import NotificationsSettings


@dataclass
class Behaviour:
    """How a test server answers: fail the first `failures` requests (or all), or hold
    each request until `release` is set, telling `held` it arrived."""

    failures: int = 0
    always_fail: bool = False
    hold: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_fail(self) -> bool:
        if self.hold:
            self.held.set()
            self.release.wait(timeout=120)
        with self.lock:
            self.attempts += 1
            return self.always_fail or self.attempts <= self.failures


@dataclass
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpSink:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.slow = Behaviour(hold=True)  # requests to /slow… wait for slow.release
        self.requests: list[HttpRequest] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path.startswith("/slow"):
                    sink.slow.should_fail()
                if sink.behaviour.should_fail():
                    self.send_response(503)
                    self.end_headers()
                    return
                sink.requests.append(
                    HttpRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.behaviour.release.set()
        self.server.shutdown()
        self.server.server_close()


class MailSink:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.messages: list[EmailMessage] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
                import asyncio

                failed = await asyncio.to_thread(sink.behaviour.should_fail)
                if failed:
                    return "451 Requested action aborted: try again later"
                content = envelope.original_content or b""
                sink.messages.append(message_from_bytes(content, policy=policy.default))  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.behaviour.release.set()
        self.controller.stop()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    yield sink
    sink.stop()


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    yield sink
    sink.stop()


# --- the web inbox --------------------------------------------------------------------------

SITE = "https://testserver"  # Secure cookies travel over https only, in httpx as in browsers
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


class RecordingAgencyApi:
    """The agency API the inbox calls on the officer's behalf: one referral, every action kept."""

    def __init__(self) -> None:
        self.referral: dict[str, Any] = {
            "id": "ref-1",
            "case_type": "child_labour",
            "risk_level": "high",
            "overdue": False,
            "state": "requested",
            "province_code": "01",
            "accept_by": "2030-01-01T08:00:00+00:00",
            "lead": True,
            "reason": "workplace inspection",
            "details": {},
            "details_status": "sealed",
            "version": 1,
        }
        self.actions: list[tuple[str, str, dict[str, Any]]] = []

    def list_referrals(self, agency: str, token: str) -> AgencyReply:
        return AgencyReply(200, [self.referral])

    def read_referral(self, agency: str, token: str, referral_id: str) -> AgencyReply:
        return AgencyReply(200, self.referral)

    def act(
        self, agency: str, token: str, referral_id: str, action: str, body: dict[str, Any]
    ) -> AgencyReply:
        self.actions.append((referral_id, action, body))
        self.referral = {**self.referral, "state": f"{action}ed", "version": 2}
        return AgencyReply(200, self.referral)


@dataclass
class InboxSite:
    client: TestClient
    issuer: LocalIssuer
    engine: Engine

    def token(self, subject: str = "police-inspector-hn-01", ttl_s: int = 3600) -> str:
        return self.issuer.mint(subject, "police", ["inspector"], ["01"], ttl_s=ttl_s)

    def csrf(self, path: str, action: str) -> str:
        """The CSRF token in the form posting to `action` on the page at `path`."""
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        form = re.search(rf'action="{re.escape(action)}".*?</form>', page.text, re.S)
        assert form is not None, f"no form posting to {action} on {path}"
        [token] = _CSRF_FIELD.findall(form.group(0))
        assert token
        return token

    def sign_in(self, token: str) -> httpx.Response:
        csrf = self.csrf("/inbox/login", "/inbox/login")
        return self.client.post("/inbox/login", data={"token": token, "csrf_token": csrf})

    def session_cookie(self) -> str:
        return self.client.cookies.get("lienganh_inbox_session", path="/inbox") or ""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[InboxSite]:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    # Police's API is configured but nothing listens there; education has none at all.
    settings = NotificationsSettings(
        data_dir=tmp_path,
        agency_api_urls={"police": f"http://127.0.0.1:{free_port()}"},
        send_timeout_s=2,
    )
    app = create_api(settings)
    with TestClient(app, base_url=SITE, follow_redirects=False) as client:
        yield InboxSite(client, issuer, app.state.engine)


@pytest.fixture
def agency_api(site: InboxSite) -> RecordingAgencyApi:
    """Installs the recording agency API in `site`."""
    api = RecordingAgencyApi()
    state = site.client.app.state  # type: ignore[attr-defined]
    state.service_context = replace(state.service_context, agency_api=api)
    return api
