"""Group commit: what many threads finish at about the same time is recorded together.

Each thread adds its item and goes on. The thread that finds no one recording records
every item queued so far, in one call (one transaction), and looks again after it, so an
item added while a commit was under way is taken by that thread at once, never left
waiting for some later item. A run of sends that finish together costs one commit, not one
each, without any thread waiting on a timer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """`record` is called with the items in the order they were added; it must not raise
    (what it could not record it reports itself), or the items queued behind it would wait
    for the next `add`."""

    def __init__(self, record: Callable[[list[T]], None]) -> None:
        self._record = record
        self._queued: list[T] = []
        self._lock = threading.Lock()  # guards _queued
        self._recording = threading.Lock()  # held by the one thread recording

    def queued(self) -> int:
        """Items added and not yet handed to `record`."""
        with self._lock:
            return len(self._queued)

    def add(self, item: T) -> None:
        with self._lock:
            self._queued.append(item)
        while self._recording.acquire(blocking=False):
            try:
                with self._lock:
                    items, self._queued = self._queued, []
                if items:
                    self._record(items)
            finally:
                self._recording.release()
            with self._lock:
                if not self._queued:
                    return
        # Another thread is recording: it looks again once its commit is done.
