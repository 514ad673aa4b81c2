"""The need-to-know field policy for referral payloads, read from committed data."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, cached_property
from importlib.resources import files
from typing import Any, Literal

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
        return self._allowed.get((agency, case_type), frozenset())

    @cached_property
    def _allowed(self) -> dict[tuple[str, CaseType], frozenset[str]]:
        # Asked several times for every case at intake and at each referral: worked out once.
        return {
            (agency, case_type): frozenset(rules.always)
            | frozenset(rules.by_case_type.get(case_type, ()))
            for agency, rules in self.agencies.items()
            for case_type in CaseType
        }

    def minimise(
        self, agency: str, case_type: CaseType, available: dict[str, str | None]
    ) -> dict[str, str]:
        """Keep only the allowed fields that have a value."""
        allowed = self.allowed_fields(agency, case_type)
        return {name: value for name, value in available.items() if name in allowed and value}

    def identity_fields(self) -> frozenset[str]:
        return frozenset(name for name, kind in self.fields.items() if kind == "identity")

    def refused_fields(self, agency: str, case_type: CaseType, named: Iterable[str]) -> list[str]:
        """The fields of `named` a referral to `agency` about `case_type` may not carry."""
        return sorted(set(named) - self.allowed_fields(agency, case_type))

    def allowed_by_case_types(
        self, agency: str
    ) -> list[tuple[tuple[CaseType, ...], frozenset[str]]]:
        """`agency`'s allowed fields, case types with the same allowance grouped together."""
        groups: dict[frozenset[str], list[CaseType]] = {}
        for case_type in CaseType:
            groups.setdefault(self.allowed_fields(agency, case_type), []).append(case_type)
        return [(tuple(case_types), allowed) for allowed, case_types in groups.items()]

    # --- the policy as JSON Schema, for the generated schemas --------------------------------

    def referral_details_rules(self) -> list[dict[str, Any]]:
        """`if`/`then` rules: a referral's `details` holds only the fields the policy gives
        the agency it is addressed to for the case's type (none for an unlisted agency)."""
        rules: list[dict[str, Any]] = []
        for agency in sorted(self.agencies):
            for case_types, allowed in self.allowed_by_case_types(agency):
                condition = {
                    "required": ["agency", "case_type"],
                    "properties": {
                        "agency": {"const": agency},
                        "case_type": {"enum": [case_type.value for case_type in case_types]},
                    },
                }
                rules.append({"if": condition, "then": {"properties": {"details": _keys(allowed)}}})
        unlisted = {
            "required": ["agency"],
            "properties": {"agency": {"not": {"enum": sorted(self.agencies)}}},
        }
        rules.append({"if": unlisted, "then": {"properties": {"details": {"maxProperties": 0}}}})
        return rules

    def identity_views_rules(self) -> list[dict[str, Any]]:
        """`if`/`then` rules: each agency's view in a case event holds only the fields the
        policy gives that agency for the case's type; an unlisted agency gets no view."""
        rules: list[dict[str, Any]] = [
            {
                "properties": {
                    "identity_views": {
                        "properties": {agency: True for agency in sorted(self.agencies)},
                        "additionalProperties": {"maxProperties": 0},
                    }
                }
            }
        ]
        for case_type in CaseType:
            views = {
                agency: _keys(self.allowed_fields(agency, case_type))
                for agency in sorted(self.agencies)
            }
            rules.append(
                {
                    "if": {
                        "required": ["case_type"],
                        "properties": {"case_type": {"const": case_type.value}},
                    },
                    "then": {"properties": {"identity_views": {"properties": views}}},
                }
            )
        return rules

    def field_names_schema(self) -> dict[str, Any]:
        """The names any view may use: the fields the policy knows."""
        return {"enum": sorted(self.fields)}


def _keys(allowed: frozenset[str]) -> dict[str, Any]:
    # An empty enum is legal but reads oddly; "no keys at all" says it plainly.
    return {"propertyNames": {"enum": sorted(allowed)}} if allowed else {"maxProperties": 0}


@cache
def field_policy() -> FieldPolicy:
    text = files("contracts.referrals").joinpath("field_policy.v1.yaml").read_text("utf-8")
    return FieldPolicy.model_validate(yaml.safe_load(text))
