"""Dependencies of the agency API: this deployment's context. Who may call which route —
this agency's officers only, by role and province — is the access policy's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.engine import Engine

from agencies.adapters.view_keys import CasesViewKeys
from chassis.sealing import PublicSealer
from chassis.service_context import context_of
from contracts.agencies.registry import Agency


def _no_intake_key() -> PublicSealer:
    raise FileNotFoundError("no intake public key of the cases service is configured")


@dataclass(frozen=True)
class AgencyContext:
    agency: str
    engine: Engine
    profile: Agency
    view_keys: CasesViewKeys | None = None  # unset: sealed details never open here
    intake_sealer: Callable[[], PublicSealer] = _no_intake_key  # seals case reports
    webhook_secret: bytes | None = None
    webhook_tolerance_s: int = 300


Context = Annotated[AgencyContext, Depends(context_of(AgencyContext))]
