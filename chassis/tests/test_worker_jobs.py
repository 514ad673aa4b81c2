"""A scheduled job's pace: its tick while busy (or without an idle interval); idle, it waits
for the worker's agents to commit events or its idle interval, never sooner than its tick."""

from __future__ import annotations

import asyncio
from datetime import datetime

from chassis.worker import ScheduledJob, until_next_run

LONG = 3600.0  # a wait the test would notice: it must never be the one that ends
EARLY = 0.005  # the loop may run a timer up to its clock resolution early


def _nothing(now: datetime) -> int:
    return 0


async def _waited(job: ScheduledJob, committed: asyncio.Event) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(until_next_run(job, committed, started), timeout=60)
    return loop.time() - started


async def test_a_job_without_an_idle_interval_keeps_its_tick():
    job = ScheduledJob("sweep", 0.05, _nothing)
    assert await _waited(job, asyncio.Event()) >= 0.05 - EARLY


async def test_an_idle_job_runs_when_the_agents_commit():
    job = ScheduledJob("deliver", 0.01, _nothing, idle_interval_s=LONG, busy=lambda: False)
    committed = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, committed.set)
    assert await _waited(job, committed) < LONG


async def test_an_idle_job_without_commits_waits_its_idle_interval():
    job = ScheduledJob("deliver", 0.01, _nothing, idle_interval_s=0.1, busy=lambda: False)
    assert await _waited(job, asyncio.Event()) >= 0.1 - EARLY


async def test_commits_never_run_a_job_sooner_than_its_tick():
    job = ScheduledJob("deliver", 0.2, _nothing, idle_interval_s=LONG, busy=lambda: False)
    committed = asyncio.Event()
    committed.set()  # a burst: the agents commit all the time
    assert await _waited(job, committed) >= 0.2 - EARLY


async def test_a_busy_job_keeps_its_tick_and_ignores_its_idle_interval():
    job = ScheduledJob("deliver", 0.05, _nothing, idle_interval_s=LONG, busy=lambda: True)
    assert await _waited(job, asyncio.Event()) >= 0.05 - EARLY
