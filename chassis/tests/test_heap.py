"""`chassis.heap`: what is alive is left out of the collections, garbage is not kept."""

from __future__ import annotations

import gc
import weakref

from chassis.heap import freeze_what_startup_loaded, frozen_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _walked(obj: object) -> bool:
    return any(each is obj for each in gc.get_objects())


def test_what_startup_loaded_is_frozen_and_its_garbage_collected_first() -> None:
    kept = [_Node()]
    garbage = _Node()
    garbage.other = _Node()
    garbage.other.other = garbage  # a cycle: only a collection frees it
    gone = weakref.ref(garbage)
    del garbage
    try:
        freeze_what_startup_loaded()
        assert gone() is None  # not frozen with the rest, where nothing would free it
        assert not _walked(kept)
        assert _walked([])  # what is made afterwards is the collector's as before
    finally:
        gc.unfreeze()


def test_a_frozen_heap_is_the_collectors_again_afterwards() -> None:
    kept = [_Node()]
    with frozen_heap():
        assert not _walked(kept)
        assert gc.get_freeze_count() > 0
    assert _walked(kept)
    assert gc.get_freeze_count() == 0
