"""What the garbage collector walks in a long-lived process.

Everything a process loads to start (modules, classes, pydantic schemas, mapped tables, the
app, its caches) lives as long as the process, yet each of CPython's full collections walks
it again to find nothing to free. `gc.freeze` moves what is alive into a generation the
collector leaves alone; what the process allocates afterwards is collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def freeze_what_startup_loaded() -> None:
    """Leave what is alive now out of every later collection, for the process's life: a
    service process calls it once started, before its first event or request. The garbage
    made while starting is collected first, so none of it is kept."""
    gc.collect()
    gc.freeze()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """What is alive when it starts is left out of the collections while it lasts (and out
    of those of processes forked meanwhile, which then do not copy the pages a collection
    would write to: the `gc.freeze` recipe for forking); the collector has it back after."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
