"""The benchmarks' hotline: the HTTP client that offers cases to the cases API.

It runs on the same two cores as the system it measures, so it must cost little. httpx
spent 2.4 ms of CPU a POST at 100 requests/s and more once answers queued (every waiting
request opens a connection of its own): at 50 cases/s the benchmark process took 24 to 44 %
of a core from the system under test. aiohttp does the same POST for 0.2 to 0.6 ms.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

import aiohttp

ATTEMPTS = 3  # of a POST whose connection dropped before the answer
TIMEOUT_S = 120


class Hotline:
    """`async with Hotline(token, connections) as hotline: await hotline.post(url, body)`."""

    def __init__(self, token: str, connections: int) -> None:
        self._token = token
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self.dropped: list[str] = []  # one entry a retried POST: the error that dropped it

    async def __aenter__(self) -> Hotline:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self._token}"},
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a report (or batch) and its answer; a dropped connection (a keep-alive closed
        under the client, a process restarted) is retried with the same `Idempotency-Key`,
        so it is recorded once whatever the first attempt did."""
        key = {"Idempotency-Key": str(uuid.uuid4())}
        for _ in range(ATTEMPTS - 1):
            try:
                return await self._answer(url, body, key)
            except aiohttp.ClientConnectionError as error:
                self.dropped.append(type(error).__name__)
        return await self._answer(url, body, key)

    async def _answer(self, url: str, body: dict[str, Any], key: dict[str, str]) -> dict[str, Any]:
        assert self._session is not None, "use Hotline in `async with`"
        async with self._session.post(url, json=body, headers=key) as response:
            response.raise_for_status()
            answered: dict[str, Any] = await response.json()
            return answered

    def report_dropped(self) -> None:
        if self.dropped:
            print(
                f"  retried after a dropped connection: {len(self.dropped)} "
                f"({', '.join(sorted(set(self.dropped)))})"
            )
