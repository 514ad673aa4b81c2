"""Web inbox sessions, kept server-side: the browser holds only a random session id.

A row is keyed by the SHA-256 of that id, never the id itself, so whoever reads the table
cannot present a session cookie. The officer's token — which the inbox relays to their agency
API — is sealed (AES-GCM, `chassis.crypto.FieldCipher`) with a key derived from the id, so
the table alone cannot act as the officer either. A session ends when the officer signs out
(`end_session` deletes the row) or at `expires_at`, which is never later than the token's
own `exp`; the caller still verifies the token on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from chassis.crypto import DecryptionError, FieldCipher
from chassis.db import transaction
from chassis.timestamps import aware
from notifications.adapters.tables import InboxSession, db_time

SESSION_ID_BYTES = 32
CSRF_TOKEN_BYTES = 32
_KEY_ID = "session"
_KEY_LABEL = b"lienganh inbox session: officer token key"


@dataclass(frozen=True)
class NewSession:
    """Given to the browser once, at sign-in: the id (its cookie) and its forms' CSRF token."""

    session_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ActiveSession:
    subject: str
    agency: str
    token: str
    csrf_token: str
    expires_at: datetime


def open_session(
    engine: Engine, *, token: str, subject: str, agency: str, now: datetime, max_age_s: int
) -> NewSession:
    """A new session for a token the verifier has just accepted; expired ones are cleared."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    id_hash = _hash(session_id)
    expires_at = min(token_expiry(token), now + timedelta(seconds=max_age_s))
    row = InboxSession(
        id_hash=id_hash,
        subject=subject,
        agency=agency,
        sealed_token=_cipher(session_id).encrypt(token, context=_context(id_hash)),
        csrf_token=secrets.token_urlsafe(CSRF_TOKEN_BYTES),
        created_at=db_time(now),
        expires_at=db_time(expires_at),
    )
    with transaction(engine) as session:
        session.execute(delete(InboxSession).where(col(InboxSession.expires_at) <= db_time(now)))
        session.add(row)
    return NewSession(session_id, row.csrf_token, expires_at)


def find_session(engine: Engine, session_id: str, *, now: datetime) -> ActiveSession | None:
    """The live session `session_id` opens; None when it is unknown, ended or expired."""
    id_hash = _hash(session_id)
    with Session(engine) as session:
        row = session.get(InboxSession, id_hash)
    if row is None:
        return None
    expires_at = aware(row.expires_at)
    if expires_at <= now:
        end_session(engine, session_id)
        return None
    try:
        token = _cipher(session_id).decrypt(row.sealed_token, context=_context(id_hash))
    except DecryptionError:
        return None  # a row edited or copied in the database is no session
    return ActiveSession(row.subject, row.agency, token, row.csrf_token, expires_at)


def end_session(engine: Engine, session_id: str) -> None:
    with transaction(engine) as session:
        session.execute(delete(InboxSession).where(col(InboxSession.id_hash) == _hash(session_id)))


def token_expiry(token: str) -> datetime:
    """The `exp` claim of a token the verifier has already accepted (its signature is checked
    there, not here)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, binascii.Error, ValueError, KeyError, TypeError) as error:
        raise ValueError("token has no readable exp claim") from error


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _cipher(session_id: str) -> FieldCipher:
    key = hmac.digest(session_id.encode(), _KEY_LABEL, "sha256")
    return FieldCipher({_KEY_ID: key}, _KEY_ID)


def _context(id_hash: str) -> str:
    return f"inbox-session:{id_hash}"
