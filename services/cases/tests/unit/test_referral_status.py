"""The combined status of a case's referrals."""

from __future__ import annotations

from cases.domain.referral_status import combined_status


def test_no_referrals_is_none_and_any_open_one_keeps_the_case_open():
    assert combined_status([]) == "none"
    assert combined_status(["completed", "in-progress"]) == "open"
    assert combined_status(["requested"]) == "open"


def test_closed_referrals_say_whether_everything_was_done():
    assert combined_status(["completed", "completed"]) == "completed"
    assert combined_status(["completed", "rejected"]) == "ended_unresolved"
    assert combined_status(["failed"]) == "ended_unresolved"
