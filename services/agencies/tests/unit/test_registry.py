"""The agency registry is data: who exists, whom they serve, which outcomes they report."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agencies.config import AgencySettings
from contracts.agencies.registry import AgencyRegistry, agency_registry
from contracts.agencies.v1 import ReferralOutcome


def test_the_four_agencies_are_registered_with_their_outcome_fields():
    registry = agency_registry()
    assert registry.codes() == ("police", "dolisa", "education", "labour_inspection")
    police = registry.get("police")
    assert police is not None and police.name_vi == "Công an" and police.serves("79")
    assert police.outcome_problems(ReferralOutcome(victims_rescued=1, note="ok")) == []
    assert police.outcome_problems(ReferralOutcome(enrolled=True, sanction="x")) == [
        "enrolled",
        "sanction",
    ]


def test_a_new_agency_is_configuration_only():
    registry = AgencyRegistry.model_validate(
        {
            "version": 1,
            "agencies": {
                "border_guard": {
                    "name_vi": "Bộ đội Biên phòng",
                    "name_en": "Border Guard",
                    "sector": "public_security",
                    "provinces": ["10", "11"],
                    "outcome_fields": ["victims_rescued"],
                }
            },
        }
    )
    guard = registry.get("border_guard")
    assert guard is not None and guard.serves("10") and not guard.serves("01")


def test_an_unknown_outcome_field_in_the_registry_is_refused():
    with pytest.raises(ValidationError, match="unknown outcome fields"):
        AgencyRegistry.model_validate(
            {
                "version": 1,
                "agencies": {
                    "health": {
                        "name_vi": "Y tế",
                        "name_en": "Health",
                        "sector": "health",
                        "provinces": ["*"],
                        "outcome_fields": ["patients_cured"],
                    }
                },
            }
        )


def test_a_deployment_for_an_unregistered_agency_refuses_to_start():
    with pytest.raises(ValidationError, match="not in the registry"):
        AgencySettings(agency="army")
    assert AgencySettings(agency="education").agency == "education"


def test_a_short_bridge_secret_is_refused():
    with pytest.raises(ValidationError, match="at least 32"):
        AgencySettings(agency="police", webhook_secret="short")
