"""The bulk gate: rows out only while the path's backlog is small — a few records, or less
than `ahead_s` of work at the rate the path drains — one look at a time."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from chassis.pacing import BulkPacing, DrainRate, LagGate, PathLag, backlog_of, bulk_allowance

PACING = BulkPacing(ahead_s=0.5, low_water=50, step=8, look_every_s=0.1, rate_window_s=1.0)
TP = TopicPartition("cases.events.v1", 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate_over(backlogs: list[int | PathLag | Exception], clock: Clock) -> LagGate:
    """A gate whose looks find these backlogs in turn (a bare count: nothing committed)."""

    async def measure() -> PathLag:
        backlog = backlogs.pop(0)
        if isinstance(backlog, Exception):
            raise backlog
        return PathLag(backlog, {}) if isinstance(backlog, int) else backlog

    return LagGate(measure, PACING, clock=clock)


async def look(gate: LagGate) -> int:
    """Ask, let the look it starts finish, ask again: what that look allows."""
    assert await gate.allowance() == 0  # the look runs beside the relay, which goes on
    await asyncio.sleep(0)
    return await gate.allowance()


def test_bulk_rows_are_released_only_while_the_backlog_is_at_most_the_low_water_mark():
    assert bulk_allowance(0, 0.0, PACING) == 8
    assert bulk_allowance(50, 0.0, PACING) == 8
    assert bulk_allowance(51, 0.0, PACING) == 0


def test_a_path_that_drains_faster_may_hold_more_records_for_the_same_wait():
    # 0.5 s of work: 200 records at 400 a second, 100 at 200 a second.
    assert bulk_allowance(200, 400.0, PACING) == 8
    assert bulk_allowance(201, 400.0, PACING) == 0
    assert bulk_allowance(101, 200.0, PACING) == 0
    assert bulk_allowance(50, 1.0, PACING) == 8  # never less than the low-water mark


def test_the_drain_rate_is_what_the_groups_committed_over_the_window():
    rate = DrainRate(window_s=1.0)
    referrals, notifications = ("lienganh-referrals", TP), ("lienganh-notifications", TP)
    assert rate.update(10.0, {referrals: 100, notifications: 50}) == 0.0  # one look: no rate
    assert rate.update(10.5, {referrals: 300, notifications: 50}) == 400.0
    assert rate.update(11.0, {referrals: 300, notifications: 250}) == 400.0
    # The first look is now out of the window: from 10.5 to 11.5.
    assert rate.update(11.5, {referrals: 500, notifications: 250}) == 400.0


def test_a_group_that_leaves_or_goes_back_neither_drains_nor_floods_the_rate():
    rate = DrainRate(window_s=10.0)
    referrals, notifications = ("lienganh-referrals", TP), ("lienganh-notifications", TP)
    rate.update(0.0, {referrals: 1_000})
    # notifications joins with a million behind it: not drained in this window.
    assert rate.update(1.0, {referrals: 1_100, notifications: 1_000_000}) == 100.0
    # referrals' offset went back (its group was reset): it drained nothing.
    assert rate.update(2.0, {referrals: 10, notifications: 1_000_000}) == 0.0


def test_the_gate_lets_more_stand_while_the_path_drains_fast():
    async def scenario() -> list[int]:
        clock = Clock()
        at = [0, 88, 176]  # the path's commits: 800 records a second, a look every 0.11 s
        gate = gate_over(
            [PathLag(120, {("lienganh-referrals", TP): offset}) for offset in at], clock
        )
        allowed = []
        for _ in at:
            allowed.append(await look(gate))
            clock.now += 0.11
        return allowed

    # 120 records: over the low-water mark, but 0.15 s of work once the rate is known.
    assert asyncio.run(scenario()) == [0, 8, 8]


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
