"""`POST /bridge/updates`: the HTTPS bridge's way in, for an agency without a Kafka client.

A signed update (see adapters/webhooks.py) goes down the same path as an officer's action
in the inbox API and ends on the agency's Kafka updates topic like any other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ValidationError

from agencies import handlers
from agencies.adapters.tables import BridgeReceipt
from agencies.api.deps import AgencyContext, Context
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from chassis.webhook_signature import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadSignature,
    verify,
)
from contracts.agencies.v1 import CaseReported, ReferralAction
from contracts.registry import UnknownEventType, model_for

router = APIRouter(prefix="/bridge", tags=["https bridge"])


class BridgeAccepted(BaseModel):
    idempotency_key: str
    type: str
    status: str = "accepted"


@router.post("/updates", status_code=status.HTTP_202_ACCEPTED, response_model=BridgeAccepted)
async def receive_update(request: Request, context: Context) -> BridgeAccepted:
    if context.webhook_secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the HTTPS bridge is not enabled")
    body = await request.body()
    try:
        verify(
            context.webhook_secret,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            now=datetime.now(UTC),
            tolerance_s=context.webhook_tolerance_s,
        )
    except BadSignature as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if not 8 <= len(key) <= 200:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{IDEMPOTENCY_HEADER} is required")
    event = _parse(body, context.agency)
    _apply(context, key, event)
    return BridgeAccepted(idempotency_key=key, type=event.ce_type)


def _parse(body: bytes, agency: str) -> ReferralAction | CaseReported:
    """`{"type": "<ce type>", "data": {...}}` with an agency update of this agency."""
    try:
        message: dict[str, Any] = json.loads(body)
        model = model_for(str(message.get("type")))
        if not issubclass(model, ReferralAction | CaseReported):
            raise UnknownEventType(f"{model.ce_type} is not an agency update")
        event = model.model_validate(message.get("data"))
    except (ValueError, UnknownEventType) as error:
        detail = error.errors() if isinstance(error, ValidationError) else str(error)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail) from None
    assert isinstance(event, ReferralAction | CaseReported)
    if event.agency != agency:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this bridge serves {agency} only")
    return event


def _apply(context: AgencyContext, key: str, event: ReferralAction | CaseReported) -> None:
    with unit_of_work(
        context.engine,
        source=f"/agencies/{context.agency}",
        correlation_id=current_correlation_id(),
    ) as uow:
        if uow.session.get(BridgeReceipt, key) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, "replayed: this key was already used")
        uow.session.add(BridgeReceipt(idempotency_key=key, received_at=datetime.now(UTC)))
        try:
            if isinstance(event, CaseReported):
                handlers.report_case(uow, event, agency=context.agency)
            else:
                handlers.act_on_referral(uow, event, agency=context.agency)
        except handlers.ReferralNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found") from None
        except (StaleVersion, ForbiddenTransition) as conflict:
            raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
