"""One function per event the reporting service counts."""

from __future__ import annotations

from chassis.unit_of_work import UnitOfWork
from contracts.cases.v1 import CaseReceived
from contracts.notifications.v1 import NotificationDelivered
from contracts.referrals.v1 import ReferralStateChanged
from reporting.adapters.tables import CaseCount, DeliveryCount, ReferralStatus


def count_case(uow: UnitOfWork, event: CaseReceived) -> None:
    key = (event.case_type.value, event.province_code)
    row = uow.session.get(CaseCount, key) or CaseCount(case_type=key[0], province_code=key[1])
    row.count += 1
    uow.session.add(row)


def track_referral(uow: UnitOfWork, event: ReferralStateChanged) -> None:
    row = uow.session.get(ReferralStatus, event.referral_id)
    if row is None:
        row = ReferralStatus(
            referral_id=event.referral_id,
            agency=event.agency,
            province_code=event.province_code,
            state=event.to_state.value,
            version=event.version,
        )
    elif event.version > row.version:
        row.state = event.to_state.value
        row.version = event.version
    uow.session.add(row)


def count_delivery(uow: UnitOfWork, event: NotificationDelivered) -> None:
    row = uow.session.get(DeliveryCount, event.channel) or DeliveryCount(channel=event.channel)
    row.count += 1
    uow.session.add(row)
