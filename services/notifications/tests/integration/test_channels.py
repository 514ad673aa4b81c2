"""Each channel against a real server: SMTP (aiosmtpd) and HTTP on loopback."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from notifications.adapters.channels import (
    DeliveryError,
    Outgoing,
    SmsGatewaySender,
    SmtpSender,
    WebhookSender,
    sign,
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


def test_an_smtp_refusal_is_a_delivery_error(mail_sink):
    mail_sink.behaviour.always_fail = True
    sender = SmtpSender("127.0.0.1", mail_sink.port, "no-reply@example.vn", 10)
    with pytest.raises(DeliveryError, match="SMTP"):
        sender.send(outgoing("a@example.vn"))


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
    expected = "sha256=" + sign("s3cret", timestamp, request.body)
    assert hmac.compare_digest(request.headers["x-lienganh-signature"], expected)
    assert sign("wrong", timestamp, request.body) not in request.headers["x-lienganh-signature"]
    assert request.headers["idempotency-key"] == "7e1f4c2a-0b9d-4e8f-a1c3-5d6e7f8a9b0c"
    payload = request.json()
    assert payload["referral_id"] == "5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f"
    assert payload["deadline"] == "2026-11-02T10:15:00+00:00"


def test_a_webhook_without_its_secret_is_not_sent_unsigned(http_sink):
    sender = WebhookSender({}, 10)
    with pytest.raises(DeliveryError, match="secret"):
        sender.send(outgoing(f"{http_sink.url}/hook", secret_ref="missing"))
    assert http_sink.requests == []
