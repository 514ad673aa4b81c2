"""The need-to-know field policy for referral payloads, read from committed data."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.vocabulary import CaseType

FieldClass = Literal["identity", "fact"]


class AgencyFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    always: tuple[str, ...] = ()
    by_case_type: dict[CaseType, tuple[str, ...]] = Field(default_factory=dict)


class FieldPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    fields: dict[str, FieldClass]
    agencies: dict[str, AgencyFields]

    @model_validator(mode="after")
    def _only_known_fields(self) -> FieldPolicy:
        for agency, rules in self.agencies.items():
            named = set(rules.always).union(*rules.by_case_type.values())
            unknown = sorted(named - set(self.fields))
            if unknown:
                raise ValueError(f"agency {agency!r} names unknown fields {unknown}")
        return self

    def allowed_fields(self, agency: str, case_type: CaseType) -> frozenset[str]:
        """The fields a referral to `agency` about a case of `case_type` may carry."""
        rules = self.agencies.get(agency)
        if rules is None:
            return frozenset()
        return frozenset(rules.always) | frozenset(rules.by_case_type.get(case_type, ()))

    def minimise(
        self, agency: str, case_type: CaseType, available: dict[str, str | None]
    ) -> dict[str, str]:
        """Keep only the allowed fields that have a value."""
        allowed = self.allowed_fields(agency, case_type)
        return {name: value for name, value in available.items() if name in allowed and value}

    def identity_fields(self) -> frozenset[str]:
        return frozenset(name for name, kind in self.fields.items() if kind == "identity")


@cache
def field_policy() -> FieldPolicy:
    text = files("contracts.referrals").joinpath("field_policy.v1.yaml").read_text("utf-8")
    return FieldPolicy.model_validate(yaml.safe_load(text))
