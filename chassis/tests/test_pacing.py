"""The bulk gate: rows out only while the pipeline's backlog is small, one look at a time."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from chassis.pacing import BulkPacing, LagGate, backlog_of, bulk_allowance

PACING = BulkPacing(low_water=50, step=8, look_every_s=0.1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate_over(backlogs: list[int | Exception], clock: Clock) -> LagGate:
    async def measure() -> int:
        backlog = backlogs.pop(0)
        if isinstance(backlog, Exception):
            raise backlog
        return backlog

    return LagGate(measure, PACING, clock=clock)


async def look(gate: LagGate) -> int:
    """Ask, let the look it starts finish, ask again: what that look allows."""
    assert await gate.allowance() == 0  # the look runs beside the relay, which goes on
    await asyncio.sleep(0)
    return await gate.allowance()


def test_bulk_rows_are_released_only_while_the_backlog_is_at_most_the_low_water_mark():
    assert bulk_allowance(0, PACING) == 8
    assert bulk_allowance(50, PACING) == 8
    assert bulk_allowance(51, PACING) == 0


def test_a_finished_look_releases_its_rows_once_and_the_next_look_waits_its_turn():
    async def scenario() -> list[int]:
        clock = Clock()
        gate = gate_over([0, 0], clock)
        allowed = [await look(gate)]
        allowed.append(await gate.allowance())  # same look: nothing more
        clock.now += 0.05
        allowed.append(await gate.allowance())  # too soon for the next look
        clock.now += 0.06
        allowed.append(await look(gate))
        return allowed

    assert asyncio.run(scenario()) == [8, 0, 0, 8]


def test_a_busy_pipeline_holds_the_import_back_until_it_drains():
    async def scenario() -> list[int]:
        clock = Clock()
        gate = gate_over([400, 120, 30], clock)
        allowed = []
        for _ in range(3):
            allowed.append(await look(gate))
            clock.now += 0.11
        return allowed

    assert asyncio.run(scenario()) == [0, 0, 8]


def test_the_relay_does_not_wait_for_a_slow_look():
    async def scenario() -> tuple[int, int]:
        release = asyncio.Event()

        async def slow() -> int:
            await release.wait()
            return 0

        gate = LagGate(slow, PACING, clock=Clock())
        first = await gate.allowance()
        await asyncio.sleep(0)
        while_looking = await gate.allowance()
        gate.close()
        return first, while_looking

    assert asyncio.run(scenario()) == (0, 0)


def test_a_failed_measurement_lets_the_import_go_on_at_one_step():
    gate = gate_over([ConnectionError("broker away")], Clock())
    assert asyncio.run(look(gate)) == 8


def test_a_groups_backlog_counts_only_partitions_it_has_committed_on():
    a, b, c = (TopicPartition("t", n) for n in range(3))
    committed = {
        a: OffsetAndMetadata(10, ""),
        b: OffsetAndMetadata(-1, ""),
        c: OffsetAndMetadata(7, ""),
    }
    assert backlog_of(committed, {a: 25, b: 40, c: 7}) == 15


def test_a_lane_reads_back_from_its_header_and_an_unknown_one_is_normal():
    from chassis.outbox import Lane

    assert [Lane.of_header(lane.header) for lane in Lane] == list(Lane)
    assert Lane.NORMAL.header is None
    assert Lane.of_header("express") is Lane.NORMAL
