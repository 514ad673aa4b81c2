"""Consumer lag arithmetic: log end offset minus committed offset, per topic."""

from __future__ import annotations

from chassis.lag import lag_by_topic


def test_lag_sums_the_partitions_of_each_topic():
    ends = {("cases.events.v1", 0): 10, ("cases.events.v1", 1): 7, ("referrals.events.v1", 0): 5}
    committed = {
        ("cases.events.v1", 0): 4,
        ("cases.events.v1", 1): 7,
        ("referrals.events.v1", 0): 5,
    }
    assert lag_by_topic(ends, committed, {}) == {"cases.events.v1": 6, "referrals.events.v1": 0}


def test_a_partition_never_committed_is_behind_by_what_is_left_in_the_log():
    ends = {("cases.events.v1", 0): 120}
    assert lag_by_topic(ends, {("cases.events.v1", 0): None}, {("cases.events.v1", 0): 100}) == {
        "cases.events.v1": 20
    }


def test_a_stale_end_offset_never_gives_negative_lag():
    assert lag_by_topic({("t", 0): 3}, {("t", 0): 5}, {}) == {"t": 0}


def test_a_partition_with_no_commit_counts_what_the_log_still_holds():
    from chassis.lag import partition_lag

    assert partition_lag(end=40, committed=None, earliest=0) == 40
    assert partition_lag(end=40, committed=None, earliest=25) == 15  # older records deleted
    assert partition_lag(end=40, committed=40, earliest=0) == 0
    assert partition_lag(end=40, committed=12, earliest=30) == 28
