"""New identifiers: canonical UUIDs that sort in the order they were made."""

from __future__ import annotations

import re
import uuid

from contracts.cases.v1 import CaseReceived
from contracts.envelope import encode
from contracts.identifiers import UUID_PATTERN, new_id
from contracts.topics import CASES_EVENTS


def test_a_new_id_is_a_canonical_uuid_version_7():
    made = new_id()
    assert re.fullmatch(UUID_PATTERN, made)
    assert uuid.UUID(made).version == 7


def test_ids_made_one_after_another_sort_in_that_order_even_within_a_millisecond():
    made = [new_id() for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_events_get_time_ordered_ids_so_inboxes_and_outboxes_grow_at_their_end():
    first, second = (
        encode(CaseReceived.example(), topic=CASES_EVENTS, source="/cases") for _ in range(2)
    )
    first_id, second_id = first.header("ce_id"), second.header("ce_id")
    assert first_id is not None and second_id is not None
    assert uuid.UUID(first_id).version == 7 and first_id < second_id
