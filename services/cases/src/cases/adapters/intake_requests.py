"""Answers kept for intake requests sent with an `Idempotency-Key` (cases.api.idempotency).

Everything kept is keyed (HMAC with the cases service's secret), like the import's row keys:
the caller and key, so one officer's key never meets another's, and a fingerprint of the
body, so a key reused for another body can be told apart without keeping the body. The
answer itself holds case ids, statuses and times, no identity. Answers are kept for
`KEPT_FOR`, then the worker forgets them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from cases.adapters.tables import IntakeRequest
from chassis.db import transaction

KEPT_FOR = timedelta(hours=24)


class KeyReused(Exception):
    """The key was sent before with a different body."""


@dataclass(frozen=True)
class KeyedRequest:
    key: str
    fingerprint: str

    @classmethod
    def of(cls, secret: bytes, *, caller: str, idempotency_key: str, body: str) -> KeyedRequest:
        return cls(
            key=_keyed(secret, f"{caller}\n{idempotency_key}"),
            fingerprint=_keyed(secret, body),
        )

    def answer(self, session: Session) -> str | None:
        """The answer kept for this key, if any; `KeyReused` if it answered another body."""
        row = session.get(IntakeRequest, self.key)
        if row is None:
            return None
        if not hmac.compare_digest(row.fingerprint, self.fingerprint):
            raise KeyReused
        return row.answer

    def kept(self, answer: str, now: datetime) -> IntakeRequest:
        """The row that keeps `answer`, to add in the transaction that made it."""
        return IntakeRequest(
            request_key=self.key, fingerprint=self.fingerprint, answer=answer, received_at=now
        )


def forget_answers(engine: Engine, now: datetime) -> int:
    """Delete the answers kept longer than `KEPT_FOR`; returns how many."""
    with transaction(engine) as session:
        expired = delete(IntakeRequest).where(col(IntakeRequest.received_at) < now - KEPT_FOR)
        return int(session.execute(expired).rowcount)  # type: ignore[attr-defined]


def _keyed(secret: bytes, material: str) -> str:
    return hmac.new(secret, material.encode("utf-8"), hashlib.sha256).hexdigest()
