"""Identifiers and codes as the schemas state them: what a producer may put in an id field.

They stay `str` in Python (services pass them around as text); the constraints and the JSON
Schema `format`/`pattern` travel with the type, so every model that uses one says the same.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Annotated

from pydantic import Field

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
    return _UUID7.next()


class _Uuid7:
    """UUIDv7 with a counter under the millisecond (RFC 9562 §6.2, method 1, as Python
    3.14's `uuid.uuid7`): ids of one process sort in the order made, and their time stays the
    clock's. The `uuid6` package instead moved the millisecond on for each id made within
    one, so a busy process's ids ran seconds ahead of the clock.

    Random bits come from the OS's CSPRNG a block at a time: one `getrandom` call per id
    was 3 % of a busy worker's CPU. A forked child (the bulk import's preparers) drops the
    parent's block, so two processes never hand out the same bits.
    """

    _COUNTER_MAX = (1 << 42) - 1  # 12 bits of rand_a and the top 30 of rand_b
    _BLOCK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._millisecond = 0
        self._counter = 0
        self._random = b""
        self._used = 0

    def forget_random(self) -> None:
        self._random, self._used = b"", 0

    def next(self) -> str:
        with self._lock:
            millisecond = time.time_ns() // 1_000_000
            if millisecond > self._millisecond:
                # A fresh random start with its top bit clear: room to count up.
                self._millisecond, self._counter = millisecond, self._bits(6) >> 7
            elif self._counter < self._COUNTER_MAX:
                self._counter += 1  # the same millisecond, or the clock went back
            else:
                self._millisecond, self._counter = self._millisecond + 1, self._bits(6) >> 7
            value = (
                (self._millisecond & 0xFFFF_FFFF_FFFF) << 80
                | 0x7 << 76
                | (self._counter >> 30) << 64
                | 0b10 << 62
                | (self._counter & 0x3FFF_FFFF) << 32
                | self._bits(4)
            )
        digits = f"{value:032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"

    def _bits(self, count: int) -> int:
        if self._used + count > len(self._random):
            self._random, self._used = os.urandom(self._BLOCK), 0
        start, self._used = self._used, self._used + count
        return int.from_bytes(self._random[start : self._used], "big")


_UUID7 = _Uuid7()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_UUID7.forget_random)
