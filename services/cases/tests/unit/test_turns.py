"""Turns across forked processes (`cases.turns`): in order whatever order they arrive in,
and none after one that failed or after the run was stopped."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from typing import Any

import pytest

from cases.turns import Turns, TurnsAborted

FORK = get_context("fork")


@dataclass
class _Log:
    """Which turns ran their work, in the order they ran it (written inside the turn, so
    the turns themselves keep it in order), and how each process ended (any order)."""

    ran: Any = field(default_factory=lambda: FORK.Array("i", 8))
    count: Any = field(default_factory=lambda: FORK.Value("i", 0))
    outcomes: Any = field(default_factory=FORK.Queue)

    def order(self) -> list[int]:
        return list(self.ran[: self.count.value])


def _take(turns: Turns, turn: int, log: _Log, *, fail: bool = False) -> None:
    try:
        with turns.take(turn):
            log.ran[log.count.value] = turn
            log.count.value += 1
            if fail:
                raise RuntimeError("this turn's work failed")
    except TurnsAborted:
        log.outcomes.put(f"{turn} aborted")
    except RuntimeError:
        log.outcomes.put(f"{turn} failed")
    else:
        log.outcomes.put(f"{turn} done")


def _start(turns: Turns, turn: int, log: _Log, **kwargs: Any) -> BaseProcess:
    process = FORK.Process(target=_take, args=(turns, turn, log), kwargs=kwargs)
    process.start()
    return process


def _finish(processes: list[BaseProcess], log: _Log) -> list[str]:
    outcomes = sorted(log.outcomes.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return outcomes


def test_turns_run_in_order_whatever_order_the_processes_start_in() -> None:
    turns, log = Turns(FORK, first=1), _Log()
    waiting = [_start(turns, turn, log) for turn in (3, 2)]  # both wait for turn 1
    first = _start(turns, 1, log)
    assert _finish([*waiting, first], log) == ["1 done", "2 done", "3 done"]
    assert log.order() == [1, 2, 3]


def test_a_turn_that_fails_stops_every_later_turn() -> None:
    turns, log = Turns(FORK, first=1), _Log()
    later = [_start(turns, turn, log) for turn in (2, 3)]
    failing = _start(turns, 1, log, fail=True)
    assert _finish([*later, failing], log) == ["1 failed", "2 aborted", "3 aborted"]
    assert log.order() == [1]  # the only turn that ran its work


def test_an_aborted_run_lets_no_waiting_turn_run() -> None:
    turns, log = Turns(FORK, first=1), _Log()
    waiting = _start(turns, 2, log)  # turn 1 never comes
    turns.abort()
    assert _finish([waiting], log) == ["2 aborted"]
    assert log.order() == []
    with pytest.raises(TurnsAborted), turns.take(1):
        pass


def _killed_in_turn(turns: Turns) -> None:
    with turns.take(1):
        os._exit(9)  # as if killed while writing: the turn is never handed on


def test_stopping_after_a_process_died_in_its_turn_does_not_hang() -> None:
    turns = Turns(FORK, first=1)
    dead = FORK.Process(target=_killed_in_turn, args=(turns,))
    dead.start()
    dead.join(timeout=60)
    assert dead.exitcode == 9
    turns.abort(timeout=0.1)  # returns: the pool's own shutdown ends any process still waiting
