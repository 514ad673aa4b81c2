"""Identifiers and codes as the schemas state them: what a producer may put in an id field.

They stay `str` in Python (services pass them around as text); the constraints and the JSON
Schema `format`/`pattern` travel with the type, so every model that uses one says the same.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from uuid6 import uuid7

# str(uuid.UUID(...)): the canonical, lower-case, hyphenated form RFC 9562 asks writers to use.
# One spelling per id matters here: case ids are Kafka keys and inbox/outbox row ids.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# The agency registry's code (contracts/agencies/registry.v1.yaml). A pattern, not an enum:
# agencies are data, and a new agency must not be a schema change of every event naming one.
AGENCY_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,40}$"
# The 2025 two-level geography: 34 provinces (2 digits), their communes and wards (5 digits).
PROVINCE_CODE_PATTERN = r"^\d{2}$"
COMMUNE_CODE_PATTERN = r"^\d{5}$"

Uuid = Annotated[
    str,
    Field(pattern=UUID_PATTERN, json_schema_extra={"format": "uuid"}),
]
"""A UUID in canonical text form, e.g. `0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10`."""


AgencyCode = Annotated[str, Field(pattern=AGENCY_CODE_PATTERN)]
"""An agency code from the agency registry, e.g. `police`, `labour_inspection`."""

ProvinceCode = Annotated[str, Field(pattern=PROVINCE_CODE_PATTERN)]
"""A province code of the 2025 two-level geography, e.g. `01` (Hà Nội)."""

CommuneCode = Annotated[str, Field(pattern=COMMUNE_CODE_PATTERN)]
"""A commune (ward) code, e.g. `00070`."""


def new_id() -> str:
    """A new identifier for a case, referral, notification or event: a UUIDv7 (RFC 9562).

    Its leading bits are the time it was made, so ids made together sort together: every
    index keyed by one (primary keys, `case_id` columns, the inbox and outbox) grows at its
    end, in pages already cached, where a random UUIDv4 lands on a different, likely uncached
    page of an ever larger tree with each insert. It also tells when the id was made; every
    record that carries one carries that time anyway.
    """
    return str(uuid7())
