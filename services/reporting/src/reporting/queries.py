"""Read models of the reporting store."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reporting.adapters.tables import CaseCount, DeliveryCount, ReferralStatus


class CaseCountOut(BaseModel):
    case_type: str
    province_code: str
    count: int


class ReferralCountOut(BaseModel):
    agency: str
    state: str
    count: int


class DeliveryCountOut(BaseModel):
    channel: str
    count: int


class Summary(BaseModel):
    cases: list[CaseCountOut]
    referrals: list[ReferralCountOut]
    deliveries: list[DeliveryCountOut]


def summary(engine: Engine) -> Summary:
    with Session(engine) as session:
        cases = session.exec(
            select(CaseCount).order_by(CaseCount.case_type, CaseCount.province_code)
        ).all()
        referrals = session.exec(
            select(ReferralStatus.agency, ReferralStatus.state, func.count())
            .group_by(ReferralStatus.agency, ReferralStatus.state)
            .order_by(ReferralStatus.agency, ReferralStatus.state)
        ).all()
        deliveries = session.exec(select(DeliveryCount).order_by(DeliveryCount.channel)).all()
    return Summary(
        cases=[CaseCountOut.model_validate(row, from_attributes=True) for row in cases],
        referrals=[
            ReferralCountOut(agency=agency, state=state, count=count)
            for agency, state, count in referrals
        ],
        deliveries=[
            DeliveryCountOut.model_validate(row, from_attributes=True) for row in deliveries
        ],
    )
