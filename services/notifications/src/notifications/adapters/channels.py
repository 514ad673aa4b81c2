"""How a message leaves: SMTP e-mail, a JSON SMS gateway, signed webhooks.

Each sender's `send` either returns (delivered) or raises `DeliveryError` with a reason safe
to log and publish: it never contains the message text.
"""

from __future__ import annotations

import contextlib
import json
import select
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.charset import Charset
from email.header import Header
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, make_msgid, parseaddr
from typing import Protocol

import httpx
from pydantic import SecretStr

from chassis.webhook_signature import signed_headers


class DeliveryError(Exception):
    """This attempt failed; the delivery loop retries until the maximum of attempts."""


@dataclass(frozen=True)
class Outgoing:
    """One message to one address on one channel, as the delivery log holds it."""

    id: str  # the delivery (notification) id: the webhook idempotency key
    address: str | None
    secret_ref: str | None
    language: str
    title: str
    body: str
    source_event_type: str
    case_id: str
    referral_id: str | None
    province_code: str
    risk_level: str
    deadline: datetime | None


class Sender(Protocol):
    def send(self, message: Outgoing) -> None: ...


@dataclass(frozen=True)
class SmtpSender:
    """E-mail over one SMTP session per sending thread, kept between messages: a session
    per message (connect, EHLO, STARTTLS, login, QUIT) cost more than the message. A kept
    session is dropped after any failure, so a message is never sent twice on a session
    that might have taken it, and replaced before use when it is no longer open: one the
    server closed has its end of file (or a 421) waiting to be read, seen without a round
    trip; one idle for `recheck_idle_s` or more is also asked NOOP, which finds a session
    a middlebox dropped silently. Back-to-back messages cost no extra round trip."""

    host: str
    port: int
    sender: str
    timeout_s: float
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None  # trust this CA (e.g. a private relay's) instead of the system's
    recheck_idle_s: float = 5.0
    _sessions: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def send(self, message: Outgoing) -> None:
        if not message.address:
            raise DeliveryError("no e-mail address")
        mail = _mail(self.sender, message.address, message)
        try:
            self._session().send_message(mail)
        except (smtplib.SMTPException, OSError) as error:
            self._drop_session()
            raise DeliveryError(f"SMTP: {type(error).__name__}: {_first_line(error)}") from None
        self._sessions.used_at = time.monotonic()

    def _session(self) -> smtplib.SMTP:
        kept: smtplib.SMTP | None = getattr(self._sessions, "smtp", None)
        if kept is not None:
            if self._still_open(kept):
                return kept
            self._drop_session()  # closed by the server (an idle timeout) or broken
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
            if self.username and self.password:
                smtp.login(self.username, self.password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        self._sessions.smtp = smtp
        return smtp

    def _still_open(self, smtp: smtplib.SMTP) -> bool:
        if smtp.sock is None or _has_input(smtp.sock):
            return False  # nothing is pending between commands, except a server's goodbye
        if time.monotonic() - getattr(self._sessions, "used_at", 0.0) < self.recheck_idle_s:
            return True
        with contextlib.suppress(smtplib.SMTPException, OSError):
            return smtp.noop()[0] == 250
        return False

    def _drop_session(self) -> None:
        kept: smtplib.SMTP | None = getattr(self._sessions, "smtp", None)
        self._sessions.smtp = None
        if kept is not None:
            kept.close()


_UTF8_8BIT = Charset("utf-8")
_UTF8_8BIT.body_encoding = None  # type: ignore[assignment]  # documented: no encoding (8bit)


def _mail(sender: str, address: str, message: Outgoing) -> MIMENonMultipart:
    """The e-mail, made with the `email` package's legacy (compat32) classes. Its modern
    `EmailMessage` parses every header as it is set and refolds it as it is sent: ~3 ms a
    message, five times this, and most of what an e-mail cost the worker (py-spy). Non-ASCII
    text is encoded here instead: the subject and display names as RFC 2047 words, the body
    as UTF-8 in 8 bits, as the modern API sent it (readable in the raw message)."""
    mail = MIMENonMultipart("text", "plain")
    mail.set_payload(message.body, _UTF8_8BIT)
    mail["From"] = _address(sender)
    mail["To"] = _address(address)
    # A `Header`, not its text: the generator folds it itself (typeshed types values as str).
    mail["Subject"] = Header(message.title, "utf-8")  # type: ignore[assignment]
    mail["Message-ID"] = make_msgid(idstring=message.id, domain="lienganh.local")
    mail["Content-Language"] = message.language
    return mail


def _address(text: str) -> str:
    """`Name <address>` with a non-ASCII name encoded; a line break (which the legacy
    classes would let through as a header of its own) is refused."""
    if "\r" in text or "\n" in text:
        raise DeliveryError("an e-mail address with a line break")
    return formataddr(parseaddr(text), charset="utf-8")


@dataclass(frozen=True)
class SmsGatewaySender:
    """A generic JSON gateway: POST {"to", "from", "message", "reference"}; 2xx = accepted."""

    url: str | None
    token: SecretStr | None
    sender: str
    timeout_s: float

    def send(self, message: Outgoing) -> None:
        if not self.url:
            raise DeliveryError("SMS gateway not configured")
        if not message.address:
            raise DeliveryError("no phone number")
        headers = {"Idempotency-Key": message.id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        payload = {
            "to": message.address,
            "from": self.sender,
            "message": message.body,
            "reference": message.id,
        }
        _post(self.url, json.dumps(payload).encode(), headers, self.timeout_s, "SMS gateway")


@dataclass(frozen=True)
class WebhookSender:
    """POSTs JSON signed with HMAC-SHA256 over `<timestamp>.<body>`; the delivery id is the
    idempotency key, so a receiver can drop a repeat after a lost acknowledgement."""

    secrets: dict[str, SecretStr]
    timeout_s: float

    def send(self, message: Outgoing) -> None:
        if not message.address:
            raise DeliveryError("no webhook URL")
        secret = self.secrets.get(message.secret_ref or "")
        if secret is None:
            raise DeliveryError(f"no webhook secret named {message.secret_ref!r}")
        body = json.dumps(webhook_payload(message), ensure_ascii=False).encode()
        headers = signed_headers(
            secret.get_secret_value().encode(),
            body,
            idempotency_key=message.id,
            now=datetime.now(UTC),
        )
        _post(message.address, body, headers, self.timeout_s, "webhook")


def webhook_payload(message: Outgoing) -> dict[str, str | None]:
    return {
        "id": message.id,
        "event_type": message.source_event_type,
        "title": message.title,
        "text": message.body,
        "language": message.language,
        "case_id": message.case_id,
        "referral_id": message.referral_id,
        "province_code": message.province_code,
        "urgency": message.risk_level,
        "deadline": message.deadline.isoformat() if message.deadline else None,
    }


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float, what: str) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise DeliveryError(f"{what}: {type(error).__name__}") from None
    if not response.is_success:
        raise DeliveryError(f"HTTP {response.status_code} from the {what}")


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0][:200] if str(error) else ""


def _has_input(sock: socket.socket) -> bool:
    """Whether the socket has something to read (or its end of file) right now."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
