import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from chassis.webhook_signature import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadSignature,
    signed_headers,
    verify,
)

SECRET = b"a-shared-secret-of-at-least-32-bytes!"
BODY = b'{"type": "vn.lienganh.referral.accepted.v1"}'
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _check(headers: dict[str, str], body: bytes = BODY, now: datetime = NOW) -> None:
    verify(
        SECRET,
        timestamp=headers.get(TIMESTAMP_HEADER),
        signature=headers.get(SIGNATURE_HEADER),
        body=body,
        now=now,
        tolerance_s=300,
    )


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    headers = signed_headers(SECRET, BODY, idempotency_key="k-1", now=NOW)
    expected = hmac.new(SECRET, f"{int(NOW.timestamp())}.".encode() + BODY, hashlib.sha256)
    assert headers[SIGNATURE_HEADER] == f"sha256={expected.hexdigest()}"
    assert headers[IDEMPOTENCY_HEADER] == "k-1"
    _check(headers)


def test_a_changed_body_is_refused() -> None:
    headers = signed_headers(SECRET, BODY, idempotency_key="k-1", now=NOW)
    with pytest.raises(BadSignature, match="does not match"):
        _check(headers, body=BODY + b" ")


def test_another_secret_is_refused() -> None:
    headers = signed_headers(b"another-secret", BODY, idempotency_key="k-1", now=NOW)
    with pytest.raises(BadSignature, match="does not match"):
        _check(headers)


def test_an_old_request_is_refused_even_with_a_valid_signature() -> None:
    headers = signed_headers(SECRET, BODY, idempotency_key="k-1", now=NOW)
    with pytest.raises(BadSignature, match="window"):
        _check(headers, now=NOW + timedelta(minutes=6))


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_missing_headers_are_named(missing: str) -> None:
    headers = signed_headers(SECRET, BODY, idempotency_key="k-1", now=NOW)
    del headers[missing]
    with pytest.raises(BadSignature, match="missing"):
        _check(headers)
