"""The agency registry: which agencies exist, whom they serve, what outcomes they report.

Read from committed data (`registry.v1.yaml`) so a new agency needs no code.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.agencies.v1 import ReferralOutcome
from contracts.identifiers import AGENCY_CODE_PATTERN

ALWAYS_ALLOWED_OUTCOME_FIELDS = frozenset({"note"})


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=AGENCY_CODE_PATTERN)
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    sector: str = Field(min_length=1)
    provinces: tuple[str, ...] = Field(min_length=1)
    outcome_fields: tuple[str, ...] = ()

    def serves(self, province_code: str) -> bool:
        return "*" in self.provinces or province_code in self.provinces

    def outcome_problems(self, outcome: ReferralOutcome) -> list[str]:
        """Fields of `outcome` this agency does not report (empty when it is acceptable)."""
        allowed = set(self.outcome_fields) | ALWAYS_ALLOWED_OUTCOME_FIELDS
        filled = outcome.model_dump(exclude_defaults=True)
        return sorted(name for name in filled if name not in allowed)


class AgencyRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    agencies: dict[str, Agency]

    @model_validator(mode="before")
    @classmethod
    def _codes_from_keys(cls, data: dict[str, object]) -> dict[str, object]:
        agencies = data.get("agencies")
        if isinstance(agencies, dict):
            data = {
                **data,
                "agencies": {
                    code: {"code": code, **fields} if isinstance(fields, dict) else fields
                    for code, fields in agencies.items()
                },
            }
        return data

    @model_validator(mode="after")
    def _known_outcome_fields(self) -> AgencyRegistry:
        known = set(ReferralOutcome.model_fields)
        for agency in self.agencies.values():
            unknown = sorted(set(agency.outcome_fields) - known)
            if unknown:
                raise ValueError(f"agency {agency.code!r} names unknown outcome fields {unknown}")
        return self

    def get(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    def codes(self) -> tuple[str, ...]:
        return tuple(self.agencies)


@cache
def agency_registry() -> AgencyRegistry:
    text = files("contracts.agencies").joinpath("registry.v1.yaml").read_text("utf-8")
    return AgencyRegistry.model_validate(yaml.safe_load(text))
