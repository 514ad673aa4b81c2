"""Group commit: items added while one thread records are taken by that thread, together."""

from __future__ import annotations

import threading

from chassis.group_commit import GroupCommit


def test_an_item_added_while_nobody_records_is_recorded_before_add_returns():
    calls: list[list[str]] = []
    commits = GroupCommit(calls.append)

    commits.add("a")

    assert calls == [["a"]]
    assert commits.queued() == 0


def test_items_added_during_a_commit_are_recorded_together_by_the_recording_thread():
    calls: list[list[str]] = []
    recording, release = threading.Event(), threading.Event()

    def record(items: list[str]) -> None:
        calls.append(list(items))
        if len(calls) == 1:  # hold the first commit open
            recording.set()
            release.wait(10)

    commits = GroupCommit(record)
    first = threading.Thread(target=commits.add, args=("a",))
    first.start()
    assert recording.wait(10)

    commits.add("b")  # returns at once: the first thread is recording
    commits.add("c")
    assert calls == [["a"]]
    assert commits.queued() == 2

    release.set()
    first.join(10)
    assert calls == [["a"], ["b", "c"]]
    assert commits.queued() == 0


def test_every_item_from_many_threads_is_recorded_exactly_once_in_each_threads_order():
    recorded: list[tuple[int, int]] = []
    commits: GroupCommit[tuple[int, int]] = GroupCommit(recorded.extend)

    def adder(thread: int) -> None:
        for n in range(300):
            commits.add((thread, n))

    threads = [threading.Thread(target=adder, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(recorded) == [(t, n) for t in range(6) for n in range(300)]
    for t in range(6):
        assert [n for thread, n in recorded if thread == t] == list(range(300))
    assert commits.queued() == 0
