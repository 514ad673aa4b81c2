"""Demo data for `make run`: synthetic reports posted through the cases API like any intake."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import httpx

from cases.synthetic import generate_reports

DEMO_SUBJECT = "demo-seed"


def post_reports(
    base_url: str,
    token: str,
    *,
    count: int = 60,
    seed: int = 2026,
    duplicate_rate: float = 0.08,
    provinces: tuple[str, ...] = (),
    on_report: Callable[[], None] = lambda: None,
    client: httpx.Client | None = None,
) -> int:
    """POST `count` generated reports to `base_url`/cases; returns how many were accepted.

    The token needs the `intake` role for every province the reports fall in (e.g. "*").
    A refused report stops the seed with the API's message: a demo with silent gaps misleads.
    """
    accepted = 0
    headers = {"Authorization": f"Bearer {token}"}
    # A caller's client stays open for the caller; our own is closed here.
    context = nullcontext(client) if client else httpx.Client(base_url=base_url, timeout=30)
    with context as http:
        for body in generate_reports(
            count, seed=seed, duplicate_rate=duplicate_rate, provinces=provinces
        ):
            response = http.post("/cases", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"seed report refused ({response.status_code}): {response.text}")
            accepted += 1
            on_report()
    return accepted
