"""New identifiers: canonical UUIDs that sort in the order they were made."""

from __future__ import annotations

import multiprocessing
import re
import time
import uuid
from multiprocessing import Queue

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


def test_ids_made_in_a_rush_keep_the_clocks_time():
    """Thousands within a millisecond count up under it; they do not move it on."""
    made = [new_id() for _ in range(20_000)]
    after_ms = time.time_ns() // 1_000_000
    assert uuid.UUID(made[-1]).int >> 80 <= after_ms
    assert made == sorted(made) and len(set(made)) == len(made)


def _ids_in_a_child(out: Queue) -> None:  # type: ignore[type-arg]
    out.put([new_id() for _ in range(200)])


def test_a_forked_process_never_makes_the_ids_its_parent_makes():
    """The bulk import forks its preparers: each must draw random bits of its own."""
    new_id()  # the parent holds random bits a child would otherwise inherit
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_ids_in_a_child, args=(out,))
    child.start()
    theirs = out.get(timeout=60)
    child.join(timeout=60)
    ours = [new_id() for _ in range(200)]
    # Compared without their milliseconds: the bits that keep ids of one moment apart.
    assert not {_below_the_time(made) for made in theirs} & {_below_the_time(made) for made in ours}


def _below_the_time(made: str) -> int:
    return uuid.UUID(made).int & ((1 << 80) - 1)
