"""Who hears of a referral change."""

from __future__ import annotations

from contracts.referrals.v1 import ReferralStateChanged
from contracts.vocabulary import ReferralState
from notifications.adapters.directory_file import default_directory_path, load_directory
from notifications.domain.messages import title
from notifications.domain.recipients import recipients_for

DIRECTORY = load_directory(default_directory_path())


def change(
    to_state: ReferralState, agency: str = "police", province: str = "01"
) -> ReferralStateChanged:
    return ReferralStateChanged.example().model_copy(
        update={"to_state": to_state, "agency": agency, "province_code": province}
    )


def test_a_new_referral_reaches_that_agencys_officers_of_the_province():
    ids = [r.id for r in recipients_for(DIRECTORY, change(ReferralState.REQUESTED))]
    assert ids == ["police-inspector-hn-01"]


def test_a_new_referral_in_another_province_reaches_that_provinces_officers():
    ids = [r.id for r in recipients_for(DIRECTORY, change(ReferralState.REQUESTED, province="79"))]
    assert ids == ["police-inspector-hcm-01"]


def test_an_acceptance_reaches_the_provincial_coordinator():
    ids = [r.id for r in recipients_for(DIRECTORY, change(ReferralState.ACCEPTED))]
    assert ids == ["coordinator-hn-01"]


def test_titles_in_both_languages_name_no_child():
    event = change(ReferralState.REQUESTED)
    assert title(event, "vi").startswith("Yêu cầu chuyển tuyến mới")
    assert title(event, "en") == "New referral (child_trafficking, urgent risk)"
