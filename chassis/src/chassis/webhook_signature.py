"""How Liên Ngành signs and checks webhooks, wherever they are sent or received.

`X-Lienganh-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`, with
`X-Lienganh-Timestamp` (Unix seconds) and an `Idempotency-Key`. Signing the timestamp with
the body lets a receiver refuse an old request even when its signature is valid.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "X-Lienganh-Signature"
TIMESTAMP_HEADER = "X-Lienganh-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class BadSignature(Exception):
    """The request is not signed with the shared secret, or not within the time window."""


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(
    secret: bytes, body: bytes, *, idempotency_key: str, now: datetime
) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify(
    secret: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    tolerance_s: int,
) -> None:
    if not timestamp or not signature:
        raise BadSignature(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise BadSignature(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now.timestamp() - sent_at) > tolerance_s:
        raise BadSignature("timestamp outside the accepted window")
    if not hmac.compare_digest(sign(secret, sent_at, body), signature):
        raise BadSignature("signature does not match")
