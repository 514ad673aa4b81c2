"""The API process's HTTP server: uvicorn, awake only when there is something to do.

uvicorn's main loop wakes every 0.1 s to see whether it should stop and, every tenth time,
to refresh its `Date` header: 0.3 % of a core for each idle API, eight of them locally. This
one ticks once a second (the header has one-second resolution anyway) and is woken at once
by SIGTERM or Ctrl-C, so stopping is as prompt as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn
from fastapi import FastAPI

TICK_S = 1.0


class QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_requested: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        # Counter 0: every tick is a "once a second" tick for uvicorn (the Date header).
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), TICK_S)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_requested is not None:
            # A signal handler may interrupt the loop anywhere: hand over through its pipe.
            self._loop.call_soon_threadsafe(self._exit_requested.set)


def serve(app: FastAPI, host: str, port: int) -> None:
    """Until SIGTERM or Ctrl-C. Logs go through the service's own logging."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    QuietServer(config).run()
