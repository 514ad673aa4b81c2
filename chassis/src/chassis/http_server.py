"""The API process's HTTP server: uvicorn, awake only when there is something to do.

uvicorn's main loop wakes every 0.1 s to see whether it should stop and, every tenth time,
to refresh its `Date` header: 0.3 % of a core for each idle API, eight of them locally. This
one ticks once a second (the header has one-second resolution anyway) and is woken at once
by SIGTERM or Ctrl-C, so stopping is as prompt as before.

Its routes are synchronous (SQLite, SQLModel) and run on anyio's thread pool, 40 threads by
default: under 32 concurrent clients the cases API grew to 33 threads and ~24 MiB more,
each thread with its own malloc arena and database connection, for no more throughput (one
GIL, one SQLite writer a process). `API_THREADS` caps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

import anyio.to_thread
import uvicorn
from fastapi import FastAPI

from chassis.logs import get_logger

log = get_logger(__name__)
TICK_S = 1.0
API_THREADS = 8


class QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, threads: int = API_THREADS) -> None:
        super().__init__(config)
        self.threads = threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_requested: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # The limiter belongs to the running loop: set before the first request is read.
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
        await super().startup(sockets)

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


@contextlib.contextmanager
def serving_beside(app: FastAPI, host: str, port: int) -> Iterator[None]:
    """The API on its own thread and event loop while the block runs (the worker's, in a
    process that runs both). The API failing (its port taken) stops the whole process, as a
    SIGTERM would: a supervisor then restarts it whole, never half of it."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    server = QuietServer(config)

    def run() -> None:
        try:
            server.run()
        except SystemExit as stop:  # uvicorn's way out when it cannot start; it logged why
            log.error("the API could not start; stopping the process", exit_code=stop.code)
        finally:
            if not server.should_exit:  # stopped by itself, not asked to
                os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=run, name="api", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.handle_exit(signal.SIGTERM, None)
        thread.join(timeout=30)
