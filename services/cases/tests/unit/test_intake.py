"""Intake rules: age bands, consent, geography."""

from __future__ import annotations

from datetime import date

import pytest

from cases.domain import geography
from cases.domain.intake import (
    CHANNEL_REQUIREMENTS,
    ConsentRecord,
    age_band,
    age_on,
    consent_basis,
    missing_for_channel,
)
from contracts.vocabulary import AgeBand, Channel, ConsentBasis


def test_age_counts_whole_years_before_the_birthday():
    assert age_on(date(2012, 11, 24), date(2026, 11, 23)) == 13
    assert age_on(date(2012, 11, 23), date(2026, 11, 23)) == 14


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2020, 1, 1), AgeBand.AGE_5_11),
        (date(2014, 1, 1), AgeBand.AGE_12_14),
        (date(2010, 1, 1), AgeBand.AGE_15_17),
        (date(2023, 1, 1), AgeBand.UNDER_5),
        (None, AgeBand.UNKNOWN),
    ],
)
def test_age_bands_of_the_national_plan(born, band):
    assert age_band(born, date(2026, 6, 1)) is band


def test_guardian_and_child_consent_from_age_seven():
    both = ConsentRecord(child_consented=True, guardian_consented=True, legal_override_reason=None)
    guardian_only = ConsentRecord(None, True, None)
    assert consent_basis(both, 12) is ConsentBasis.CONSENT
    assert consent_basis(guardian_only, 12) is ConsentBasis.NONE
    assert consent_basis(guardian_only, 6) is ConsentBasis.CONSENT


def test_a_legal_override_stands_in_for_consent():
    override = ConsentRecord(False, False, "Criminal Procedure Code: trafficking investigation")
    assert consent_basis(override, 15) is ConsentBasis.LEGAL_OVERRIDE


def test_geography_has_34_provinces_and_knows_communes():
    assert len(geography.province_names()) == 34
    assert geography.province_of_commune("00070") == "01"
    assert geography.province_of_commune("99999") is None


def test_each_channel_names_its_required_fields():
    assert missing_for_channel(Channel.LABOUR_INSPECTION, {"summary"}) == ["workplace.name"]
    assert missing_for_channel(Channel.SCHOOL, {"summary"}) == ["child.date_of_birth"]
    assert missing_for_channel(Channel.COMMUNE_COLLABORATOR, {"child.address"}) == []
    assert missing_for_channel(Channel.SELF_REPORT, set()) == []
    assert set(CHANNEL_REQUIREMENTS) == set(Channel)
