"""Turns taken in order across forked processes: each writes its batch when the one before
it has written (`Turns.take`), so batches prepared side by side land in file order.

A failure ends the run: the turn that failed, or `abort`, stops every later turn from
running (it raises `TurnsAborted`) instead of leaving it waiting for a turn that never comes.
A process waiting for its turn gives up when the process that forked it is gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

_ABORTED = -1
_RECHECK_S = 1.0  # how often a waiting process looks whether its parent is still there


class TurnsAborted(RuntimeError):
    """An earlier turn failed, or the run was stopped: this one must not run."""


class Turns:
    """Create before forking; `take(n)` in the children, for n = `first`, `first` + 1, …"""

    def __init__(self, context: BaseContext, *, first: int = 0) -> None:
        self._condition = context.Condition()
        self._next = context.Value("q", first, lock=False)  # guarded by the condition
        self._parent = os.getpid()

    @contextmanager
    def take(self, turn: int) -> Iterator[None]:
        """Runs the block when turn `turn` comes, then passes it on (or ends the run)."""
        with self._condition:
            while not self._condition.wait_for(
                lambda: self._next.value in (turn, _ABORTED), timeout=_RECHECK_S
            ):
                if os.getppid() != self._parent:
                    raise TurnsAborted("the process that started the run is gone")
            if self._next.value == _ABORTED:
                raise TurnsAborted(f"turn {turn}: an earlier turn failed or the run stopped")
            try:
                yield
            except BaseException:
                self._next.value = _ABORTED
                raise
            else:
                self._next.value = turn + 1
            finally:
                self._condition.notify_all()

    def abort(self, *, timeout: float = 5.0) -> None:
        """Every turn not yet taken raises `TurnsAborted` instead of running. A process
        killed in its turn never lets go of it (its pool then stops the others): after
        `timeout` this gives up, and the turns still to come, if any, run."""
        if not self._condition.acquire(timeout=timeout):
            return
        try:
            self._next.value = _ABORTED
            self._condition.notify_all()
        finally:
            self._condition.release()
