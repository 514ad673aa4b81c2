"""Each channel against a real server: SMTP (aiosmtpd) and HTTP on loopback."""

from __future__ import annotations

import hashlib
import hmac
import select
import ssl
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from localrun.ports import free_port
from notifications.adapters.channels import (
    DeliveryError,
    Outgoing,
    SmsGatewaySender,
    SmtpSender,
    WebhookSender,
)


def outgoing(address: str, *, secret_ref: str | None = None) -> Outgoing:
    return Outgoing(
        id="7e1f4c2a-0b9d-4e8f-a1c3-5d6e7f8a9b0c",
        address=address,
        secret_ref=secret_ref,
        language="vi",
        title="Yêu cầu chuyển tuyến mới: mua bán trẻ em, mức độ khẩn cấp - Thành phố Hà Nội",
        body="Cơ quan của anh/chị vừa nhận một yêu cầu chuyển tuyến mới.",
        source_event_type="vn.lienganh.referral.state_changed.v1",
        case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
        referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
        province_code="01",
        risk_level="urgent",
        deadline=datetime(2026, 11, 2, 10, 15, tzinfo=UTC),
    )


def test_an_email_reaches_a_real_smtp_server_in_utf8(mail_sink):
    sender = SmtpSender("127.0.0.1", mail_sink.port, "Lien Nganh <no-reply@example.vn>", 10)
    sender.send(outgoing("police-inspector-hn-01@example.vn"))
    [mail] = mail_sink.messages
    assert mail["To"] == "police-inspector-hn-01@example.vn"
    assert mail["Subject"].startswith("Yêu cầu chuyển tuyến mới")
    assert "anh/chị vừa nhận" in mail.get_content()
    assert mail["Content-Language"] == "vi"


def test_vietnamese_names_subject_and_body_arrive_intact_and_the_body_readable(mail_sink):
    sender = SmtpSender("127.0.0.1", mail_sink.port, "Liên Ngành <no-reply@example.vn>", 10)
    message = outgoing("Cán bộ Trực ban <truc-ban@example.vn>")
    sender.send(message)
    [mail] = mail_sink.messages
    [sent_by] = mail["From"].addresses
    [sent_to] = mail["To"].addresses
    assert (sent_by.display_name, sent_by.addr_spec) == ("Liên Ngành", "no-reply@example.vn")
    assert (sent_to.display_name, sent_to.addr_spec) == ("Cán bộ Trực ban", "truc-ban@example.vn")
    assert mail["Subject"] == message.title
    assert mail.get_content().splitlines() == message.body.splitlines()
    assert mail["Content-Transfer-Encoding"] == "8bit"  # the raw message reads as text


def test_an_address_with_a_line_break_is_refused_and_nothing_is_sent(mail_sink):
    sender = SmtpSender("127.0.0.1", mail_sink.port, "no-reply@example.vn", 10)
    with pytest.raises(DeliveryError, match="line break"):
        sender.send(outgoing("a@example.vn\r\nBcc: someone@example.org"))
    assert mail_sink.messages == []


def test_an_smtp_refusal_is_a_delivery_error(mail_sink):
    mail_sink.behaviour.always_fail = True
    sender = SmtpSender("127.0.0.1", mail_sink.port, "no-reply@example.vn", 10)
    with pytest.raises(DeliveryError, match="SMTP"):
        sender.send(outgoing("a@example.vn"))


class SessionsSeen:
    """An SMTP server that remembers the client end (session) each message came over, and
    how many NOOPs it was asked."""

    def __init__(self) -> None:
        self.peers: list[object] = []
        self.noops = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.peers.append(session.peer)
        return "250 OK"

    async def handle_NOOP(self, server, session, envelope, arg) -> str:
        self.noops += 1
        return "250 OK"


def smtp_server(handler: SessionsSeen, **smtp_options: float) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_options)
    controller.start()
    return controller


def test_a_thread_sends_its_emails_over_one_kept_session():
    seen = SessionsSeen()
    controller = smtp_server(seen)
    try:
        sender = SmtpSender("127.0.0.1", controller.port, "no-reply@example.vn", 10)
        for _ in range(3):
            sender.send(outgoing("police-inspector-hn-01@example.vn"))
    finally:
        controller.stop()
    assert len(seen.peers) == 3 and len(set(seen.peers)) == 1


def test_a_session_the_server_closed_is_replaced_before_the_next_email():
    seen = SessionsSeen()
    controller = smtp_server(seen)
    try:
        sender = SmtpSender("127.0.0.1", controller.port, "no-reply@example.vn", 10)
        sender.send(outgoing("a@example.vn"))
        kept = sender._sessions.smtp
        kept.sock.shutdown(2)  # as the server's idle timeout would: the session is gone
        sender.send(outgoing("b@example.vn"))
    finally:
        controller.stop()
    assert len(seen.peers) == 2 and seen.peers[0] != seen.peers[1]


def test_back_to_back_emails_cost_no_extra_round_trip_but_an_idle_session_is_asked_noop():
    seen = SessionsSeen()
    controller = smtp_server(seen)
    try:
        busy = SmtpSender("127.0.0.1", controller.port, "no-reply@example.vn", 10)
        for _ in range(3):
            busy.send(outgoing("a@example.vn"))
        assert seen.noops == 0
        idle = SmtpSender("127.0.0.1", controller.port, "no-reply@example.vn", 10, recheck_idle_s=0)
        for _ in range(3):
            idle.send(outgoing("b@example.vn"))
    finally:
        controller.stop()
    assert seen.noops == 2  # before each reuse of the idle sender's session
    assert len(seen.peers) == 6 and len(set(seen.peers)) == 2


def test_a_session_the_server_timed_out_is_replaced_without_asking_it_anything():
    seen = SessionsSeen()
    controller = smtp_server(seen, timeout=0.2)  # the server's idle timeout
    try:
        sender = SmtpSender("127.0.0.1", controller.port, "no-reply@example.vn", 10)
        sender.send(outgoing("a@example.vn"))
        closed = sender._sessions.smtp.sock
        for _ in range(200):  # until the server's goodbye has arrived
            readable, _, _ = select.select([closed], [], [], 0.05)
            if readable:
                break
        sender.send(outgoing("b@example.vn"))
    finally:
        controller.stop()
    assert readable and seen.noops == 0
    assert len(seen.peers) == 2 and seen.peers[0] != seen.peers[1]


def test_an_sms_is_a_json_post_to_the_gateway_with_its_credential(http_sink):
    sender = SmsGatewaySender(f"{http_sink.url}/sms", SecretStr("gw-token"), "LienNganh", 10)
    sender.send(outgoing("+84912345678"))
    [request] = http_sink.requests
    assert request.path == "/sms"
    assert request.headers["authorization"] == "Bearer gw-token"
    assert request.json() == {
        "to": "+84912345678",
        "from": "LienNganh",
        "message": "Cơ quan của anh/chị vừa nhận một yêu cầu chuyển tuyến mới.",
        "reference": "7e1f4c2a-0b9d-4e8f-a1c3-5d6e7f8a9b0c",
    }


def test_a_gateway_error_is_a_delivery_error_naming_the_status(http_sink):
    http_sink.behaviour.always_fail = True
    sender = SmsGatewaySender(f"{http_sink.url}/sms", None, "LienNganh", 10)
    with pytest.raises(DeliveryError, match="HTTP 503"):
        sender.send(outgoing("+84912345678"))


def test_a_webhook_is_signed_over_timestamp_and_body_with_an_idempotency_key(http_sink):
    sender = WebhookSender({"police-hn": SecretStr("s3cret")}, 10)
    sender.send(outgoing(f"{http_sink.url}/hook", secret_ref="police-hn"))
    [request] = http_sink.requests
    timestamp = request.headers["x-lienganh-timestamp"]
    # Computed here by hand, as the receiving system would, not with the sender's helper.
    mac = hmac.new(b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert hmac.compare_digest(request.headers["x-lienganh-signature"], f"sha256={mac.hexdigest()}")
    assert request.headers["idempotency-key"] == "7e1f4c2a-0b9d-4e8f-a1c3-5d6e7f8a9b0c"
    payload = request.json()
    assert payload["referral_id"] == "5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f"
    assert payload["deadline"] == "2026-11-02T10:15:00+00:00"


def test_a_webhook_without_its_secret_is_not_sent_unsigned(http_sink):
    sender = WebhookSender({}, 10)
    with pytest.raises(DeliveryError, match="secret"):
        sender.send(outgoing(f"{http_sink.url}/hook", secret_ref="missing"))
    assert http_sink.requests == []


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp.crt", directory / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def test_an_email_goes_over_starttls_with_login_to_a_server_that_requires_both(tmp_path: Path):
    tls, ca_file = self_signed_tls(tmp_path)
    received: list[bytes] = []

    class Store:
        async def handle_DATA(self, server, session, envelope) -> str:
            received.append(envelope.original_content or b"")
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login == b"lienganh" and auth_data.password == b"mail-pass"
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        Store(),
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        secure = SmtpSender(
            "127.0.0.1",
            port,
            "no-reply@example.vn",
            10,
            starttls=True,
            username="lienganh",
            password=SecretStr("mail-pass"),
            ca_file=str(ca_file),
        )
        secure.send(outgoing("police-inspector-hn-01@example.vn"))
        assert len(received) == 1
        plain = SmtpSender("127.0.0.1", port, "no-reply@example.vn", 10)
        with pytest.raises(DeliveryError, match="530"):  # must issue STARTTLS first
            plain.send(outgoing("police-inspector-hn-01@example.vn"))
        assert len(received) == 1
    finally:
        controller.stop()
