"""Real servers for the channels: an SMTP server (aiosmtpd) and an HTTP server, on loopback.

Each can be told to fail or to hold a request until released, so tests drive failures and
slowness by events, never by timing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from localrun.kafka import free_port


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
