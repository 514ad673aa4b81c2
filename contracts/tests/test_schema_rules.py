"""The generated schemas carry the rules: uuid ids, agency codes, geography codes, sealed
values, and each agency's field policy on what a referral to it may carry."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts.agencies.registry import Agency, agency_registry
from contracts.cases.v1 import CaseReceived
from contracts.compatibility import current_schemas
from contracts.identifiers import AGENCY_CODE_PATTERN, UUID_PATTERN
from contracts.referrals.field_policy import field_policy
from contracts.referrals.v1 import ReferralRequested
from contracts.sealed import DATA_KEY_TOKEN_PATTERN, PUBLIC_KEY_TOKEN_PATTERN
from contracts.vocabulary import CaseType

SCHEMAS = current_schemas()
# Ids that are not uuids where they are made: a directory id of an officer, a CloudEvent id
# (any string the sender chose), and an audited resource ("new", a report name, an officer).
NOT_UUIDS = {"recipient_id", "source_event_id", "resource_id"}
AGENCY_FIELDS = {"agency", "owner_agency", "to_agency", "transferred_to", "rerouted_to"}
SEALED = ReferralRequested.examples()["with_details"].details["child_name"]


def _properties(node: Any, defs: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, schema) of every property, nested models and nullable unions included."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield from _properties(defs[node["$ref"].removeprefix("#/$defs/")], defs)
        for name, schema in node.get("properties", {}).items():
            for branch in schema.get("anyOf", [schema]):
                yield name, branch
            yield from _properties(schema, defs)
        for key in ("anyOf", "items"):
            for child in node.get(key, []) if key == "anyOf" else [node.get(key)]:
                yield from _properties(child, defs)


def _all_properties() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (ce_type, name, schema)
        for ce_type, root in sorted(SCHEMAS.items())
        for name, schema in _properties(root, root.get("$defs", {}))
        if schema.get("type") != "null"
    ]


def test_every_uuid_id_is_a_uuid_string() -> None:
    ids = [(t, n, s) for t, n, s in _all_properties() if n.endswith("_id")]
    assert len(ids) > 40
    for ce_type, name, schema in ids:
        if name in NOT_UUIDS:
            assert "format" not in schema, (ce_type, name)
            continue
        assert schema["type"] == "string", (ce_type, name)
        assert schema["format"] == "uuid", (ce_type, name)
        assert schema["pattern"] == UUID_PATTERN, (ce_type, name)


def test_the_uuid_pattern_takes_what_services_make_and_nothing_else() -> None:
    assert re.fullmatch(UUID_PATTERN, str(uuid.uuid4()))
    assert re.fullmatch(UUID_PATTERN, str(uuid.uuid5(uuid.NAMESPACE_URL, "x")))
    for wrong in ["case-1", str(uuid.uuid4()).upper(), uuid.uuid4().hex, ""]:
        assert not re.fullmatch(UUID_PATTERN, wrong), wrong


def test_agency_fields_are_registry_codes() -> None:
    fields = [(t, n, s) for t, n, s in _all_properties() if n in AGENCY_FIELDS]
    assert len(fields) > 20
    for ce_type, name, schema in fields:
        assert schema["pattern"] == AGENCY_CODE_PATTERN, (ce_type, name)
    assert all(re.fullmatch(AGENCY_CODE_PATTERN, code) for code in agency_registry().codes())
    assert Agency.model_json_schema()["properties"]["code"]["pattern"] == AGENCY_CODE_PATTERN


def test_provinces_and_communes_are_two_and_five_digits() -> None:
    found = {"province_code": r"^\d{2}$", "commune_code": r"^\d{5}$"}
    fields = [(t, n, s) for t, n, s in _all_properties() if n in found]
    assert {name for _, name, _ in fields} == set(found)
    for ce_type, name, schema in fields:
        assert schema["pattern"] == found[name], (ce_type, name)


def test_sealed_values_are_tokens() -> None:
    requested = SCHEMAS[ReferralRequested.ce_type]
    assert requested["properties"]["details"]["additionalProperties"]["pattern"] == (
        DATA_KEY_TOKEN_PATTERN
    )
    views = SCHEMAS[CaseReceived.ce_type]["properties"]["identity_views"]
    assert views["additionalProperties"]["additionalProperties"]["pattern"] == (
        DATA_KEY_TOKEN_PATTERN
    )
    reported = SCHEMAS["vn.lienganh.agency.case_reported.v1"]
    assert reported["properties"]["sealed_identity"]["pattern"] == PUBLIC_KEY_TOKEN_PATTERN


def _referral(agency: str, case_type: CaseType, details: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = ReferralRequested.example().model_dump(mode="json")
    return payload | {"agency": agency, "case_type": case_type.value, "details": details}


@pytest.mark.parametrize("agency", [*sorted(field_policy().agencies), "border_guard"])
@pytest.mark.parametrize("case_type", list(CaseType))
def test_a_referral_schema_allows_exactly_the_fields_the_policy_gives(
    agency: str, case_type: CaseType
) -> None:
    validator = Draft202012Validator(SCHEMAS[ReferralRequested.ce_type])
    allowed = field_policy().allowed_fields(agency, case_type)
    for name in sorted(field_policy().fields):
        payload = _referral(agency, case_type, {name: SEALED})
        assert validator.is_valid(payload) == (name in allowed), (agency, case_type, name)
    assert not validator.is_valid(_referral(agency, case_type, {"religion": SEALED}))
    assert validator.is_valid(_referral(agency, case_type, {}))


def test_a_detail_in_clear_is_refused() -> None:
    validator = Draft202012Validator(SCHEMAS[ReferralRequested.ce_type])
    payload = _referral("police", CaseType.CHILD_TRAFFICKING, {"child_name": "Nguyễn Văn A"})
    assert not validator.is_valid(payload)


def test_case_views_follow_the_policy_per_agency_and_case_type() -> None:
    validator = Draft202012Validator(SCHEMAS[CaseReceived.ce_type])
    case: dict[str, Any] = CaseReceived.example().model_dump(mode="json")
    trafficking = case | {"identity_views": {"police": {"child_name": SEALED}}}
    assert validator.is_valid(trafficking)
    assert not validator.is_valid(trafficking | {"case_type": "child_labour"})
    assert not validator.is_valid(case | {"identity_views": {"border_guard": {"sex": SEALED}}})
    assert not validator.is_valid(case | {"identity_views": {"Police": {}}})
