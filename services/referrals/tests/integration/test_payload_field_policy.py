"""Contract: each agency's referral topic carries exactly the fields the field policy allows
that agency for that kind of case — whatever the case event carried — still sealed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from chassis.unit_of_work import unit_of_work
from contracts.agencies.registry import agency_registry
from contracts.cases.v1 import CaseCircumstances
from contracts.referrals.field_policy import field_policy
from contracts.referrals.v1 import ReferralRequested
from contracts.topics import agency_referrals_topic
from contracts.vocabulary import AgeBand, CaseType, RiskLevel
from referrals.adapters.store import SqlStore
from referrals.changes import NewReferral, open_referral

from .conftest import ALL_DETAILS, Worker, opened, oversharing_views

IDENTITY = field_policy().identity_fields()


@pytest.mark.parametrize("agency", agency_registry().codes())
@pytest.mark.parametrize("case_type", list(CaseType))
def test_each_agency_topic_carries_exactly_its_allowed_fields(
    worker: Worker, agency: str, case_type: CaseType
):
    new = NewReferral(
        case_id=str(uuid.uuid4()),
        agency=agency,
        lead=True,
        reason="contract test",
        case_type=case_type,
        risk_level=RiskLevel.HIGH,
        province_code="01",
        commune_code="00070",
        age_band=AgeBand.AGE_12_14,
        circumstances=CaseCircumstances(),
        owner_agency="dolisa",
    )
    with unit_of_work(worker.engine, source="/tests") as uow:
        store = SqlStore(uow)
        store.keep_views(new.case_id, oversharing_views(new.case_id))
        open_referral(store, new, policy=worker.policy, actor="t", at=datetime.now(UTC))
    [staged] = worker.staged(ReferralRequested.ce_type)
    assert staged["topic"] == agency_referrals_topic(agency)
    carried = set(
        ReferralRequested.model_validate({k: v for k, v in staged.items() if k != "topic"}).details
    )
    assert carried == field_policy().allowed_fields(agency, case_type)


def test_identity_reaches_police_only_for_trafficking_and_forced_labour():
    policy = field_policy()
    with_identity = {
        case_type for case_type in CaseType if policy.allowed_fields("police", case_type) & IDENTITY
    }
    assert with_identity == {CaseType.CHILD_TRAFFICKING, CaseType.FORCED_LABOUR}
    assert not policy.allowed_fields("labour_inspection", CaseType.CHILD_LABOUR) & IDENTITY


def test_details_travel_unopened_and_open_only_with_their_agency_view_key(worker: Worker):
    from chassis.crypto import DecryptionError

    case_id = str(uuid.uuid4())
    views = oversharing_views(case_id)
    new = NewReferral(
        case_id=case_id,
        agency="dolisa",
        lead=True,
        reason="sealing test",
        case_type=CaseType.CHILD_TRAFFICKING,
        risk_level=RiskLevel.URGENT,
        province_code="01",
        commune_code="00070",
        age_band=AgeBand.AGE_12_14,
        circumstances=CaseCircumstances(),
        owner_agency="dolisa",
    )
    with unit_of_work(worker.engine, source="/tests") as uow:
        store = SqlStore(uow)
        store.keep_views(case_id, views)
        open_referral(store, new, policy=worker.policy, actor="t", at=datetime.now(UTC))
    [staged] = worker.staged(ReferralRequested.ce_type)
    sealed = staged["details"]
    assert set(sealed) == field_policy().allowed_fields("dolisa", CaseType.CHILD_TRAFFICKING)
    assert all(sealed[field] == views["dolisa"][field] for field in sealed)  # attached as is
    assert ALL_DETAILS["child_name"] not in str(staged)
    assert opened(case_id, "dolisa", sealed)["child_name"] == ALL_DETAILS["child_name"]
    with pytest.raises(DecryptionError):
        opened(case_id, "police", sealed)
