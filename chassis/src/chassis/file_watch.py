"""A wake-up when a file is written, from Linux's inotify, on an asyncio loop.

An idle outbox relay has to notice rows that another process (its service's API) commits.
Looking twenty times a second was about half of an idle worker's CPU. A commit to a SQLite
database in WAL mode always writes its `-wal` file, so the relay watches that file and
sleeps until it changes. Where there is no inotify (not Linux, no free inotify instance) or
no such file (PostgreSQL), `FileWatch.open` gives None or `arm()` False, and the caller polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inotify_simple import INotify

logger = logging.getLogger(__name__)


class FileWatch:
    """Calls `on_change` on the loop it is attached to when the file is written: once, then
    not again before the next `arm()`.

    Under load every commit writes the file several times, and a wake-up for each write was
    5 % of a busy worker's CPU; the caller only needs the first one before it looks. Writes
    made after that collect in the kernel's queue (as one event) and are reported as soon as
    `arm()` listens again, so none goes unseen. Not armed (the file did not exist, or was
    deleted) it calls nothing: `arm()` again before each wait, and poll while it answers
    False. A watch that becomes armed calls `on_change` once, since what was written before
    it was armed went unseen.
    """

    def __init__(self, path: Path, inotify: INotify) -> None:
        self._path = path
        self._inotify = inotify
        self._wd: int | None = None
        self._on_change: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = False

    @classmethod
    def open(cls, path: Path) -> FileWatch | None:
        if not sys.platform.startswith("linux"):
            return None
        from inotify_simple import INotify

        try:
            inotify = INotify(nonblocking=True)
        except OSError as error:  # e.g. fs.inotify.max_user_instances reached: poll instead
            logger.warning("no inotify instance (%s): polling", error)
            return None
        return cls(path, inotify)

    def attach(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None:
        self._loop, self._on_change = loop, on_change
        self._listen()

    def arm(self) -> bool:
        """Watch the file if it is not watched yet; whether it is watched now."""
        from inotify_simple import flags

        if self._wd is None and self._path.exists():
            with contextlib.suppress(OSError):  # deleted in between: still unarmed
                self._wd = self._inotify.add_watch(
                    self._path, flags.MODIFY | flags.DELETE_SELF | flags.MOVE_SELF
                )
                self._on_change()
        if self._wd is not None:
            self._listen()
        return self._wd is not None

    def close(self) -> None:
        self._stop_listening()
        with contextlib.suppress(OSError):
            self._inotify.close()

    def _listen(self) -> None:
        if not self._listening and self._loop is not None:
            self._loop.add_reader(self._inotify.fileno(), self._read)
            self._listening = True

    def _stop_listening(self) -> None:
        if self._listening and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._inotify.fileno())
        self._listening = False

    def _read(self) -> None:
        from inotify_simple import flags

        self._stop_listening()  # until the next `arm()`
        for event in self._inotify.read(timeout=0):
            if event.mask & flags.IGNORED:  # the watch is gone (file deleted or moved)
                self._wd = None
        self._on_change()
