"""`Idempotency-Key` on `POST /cases` and `POST /cases:batch`: a client that retries a
report it got no answer to (a timeout, a dropped connection) gets the cases its first
attempt created, not new ones.

The key is the caller's own (scoped to the officer who sends it). For a day
(cases.adapters.intake_requests) a retry gets the first answer again, with its status and
body and `Idempotent-Replayed: true`. The key sent with a different body is refused (422),
never answered with another report's cases. A retry racing its first attempt loses on the
table's primary key: its transaction rolls back whole, and it answers what the first kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Header, Response
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cases.adapters.intake_requests import KeyedRequest, KeyReused
from cases.api.deps import CasesContext
from chassis.access import Grant
from chassis.api import invalid

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",  # visible ASCII, as in a UUID or a partner's own ids
        description="Your id for this request: a retry with the same id and body gets the "
        "first answer again (for 24 hours) instead of new cases.",
    ),
]

Answer = TypeVar("Answer", bound=BaseModel)


def keyed_request(
    context: CasesContext, grant: Grant, idempotency_key: str | None, body: BaseModel
) -> KeyedRequest | None:
    if idempotency_key is None:
        return None
    return KeyedRequest.of(
        context.deps.dedup_secret,
        caller=grant.officer.subject,
        idempotency_key=idempotency_key,
        body=body.model_dump_json(),
    )


def answer_once(
    engine: Engine,
    request: KeyedRequest | None,
    response: Response,
    model: type[Answer],
    create: Callable[[], Answer],
) -> Answer:
    """`create()`'s answer (it must keep it: `KeyedRequest.kept`, in its transaction), or
    the answer already kept for the request's key."""
    if request is None:
        return create()
    earlier = _earlier(engine, request, response, model)
    if earlier is not None:
        return earlier
    try:
        return create()
    except IntegrityError:
        # The same key was answered meanwhile: a retry raced its first attempt.
        earlier = _earlier(engine, request, response, model)
        if earlier is None:
            raise
        return earlier


def _earlier(
    engine: Engine, request: KeyedRequest, response: Response, model: type[Answer]
) -> Answer | None:
    with Session(engine) as session:
        try:
            answer = request.answer(session)
        except KeyReused:
            raise invalid(
                HEADER, message="already sent with a different body", where="header"
            ) from None
    if answer is None:
        return None
    response.headers[REPLAYED_HEADER] = "true"
    return model.model_validate_json(answer)
