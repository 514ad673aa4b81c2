"""Turns across forked processes (`cases.turns`): in order whatever order they arrive in,
and none after one that failed or after the run was stopped."""

from __future__ import annotations

import os
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from typing import Any

import pytest

from cases.turns import Turns, TurnsAborted

FORK = get_context("fork")


def _take(turns: Turns, turn: int, log: Any, *, fail: bool = False) -> None:
    try:
        with turns.take(turn):
            log.put(turn)
            if fail:
                raise RuntimeError("this turn's work failed")
    except TurnsAborted:
        log.put(f"{turn} aborted")
    except RuntimeError:
        log.put(f"{turn} failed")


def _start(turns: Turns, turn: int, log: Any, **kwargs: Any) -> BaseProcess:
    process = FORK.Process(target=_take, args=(turns, turn, log), kwargs=kwargs)
    process.start()
    return process


def _finish(processes: list[BaseProcess], log: Any, count: int) -> list[Any]:
    seen = [log.get(timeout=60) for _ in range(count)]
    for process in processes:
        process.join(timeout=60)
    return seen


def test_turns_run_in_order_whatever_order_the_processes_start_in() -> None:
    turns, log = Turns(FORK, first=1), FORK.Queue()
    waiting = [_start(turns, turn, log) for turn in (3, 2)]  # both wait for turn 1
    first = _start(turns, 1, log)
    assert _finish([*waiting, first], log, 3) == [1, 2, 3]


def test_a_turn_that_fails_stops_every_later_turn() -> None:
    turns, log = Turns(FORK, first=1), FORK.Queue()
    later = [_start(turns, turn, log) for turn in (2, 3)]
    failing = _start(turns, 1, log, fail=True)
    seen = _finish([*later, failing], log, 4)
    assert seen[0] == 1  # the only turn that ran its work
    assert sorted(seen[1:]) == ["1 failed", "2 aborted", "3 aborted"]


def test_an_aborted_run_lets_no_waiting_turn_run() -> None:
    turns, log = Turns(FORK, first=1), FORK.Queue()
    waiting = _start(turns, 2, log)  # turn 1 never comes
    turns.abort()
    assert _finish([waiting], log, 1) == ["2 aborted"]
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
