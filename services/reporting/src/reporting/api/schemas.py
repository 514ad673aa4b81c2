"""Answers of the report API: tables, indicators, the summary, and the export formats."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# A table answers JSON, or the file `format` asks for (declared beside the JSON model).
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table: JSON, or a CSV or XLSX attachment (`format`).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class ShareOut(BaseModel):
    numerator: int | str
    denominator: int | str
    percent: float | None


class FunnelOut(BaseModel):
    reports: int | str
    referred: int | str
    completed: int | str


class IndicatorsOut(BaseModel):
    as_of: datetime
    cases: int | str
    referrals: int | str
    hours_to_acceptance_p50: float | None
    hours_to_acceptance_p90: float | None
    accepted_within_deadline: ShareOut
    plan_within_working_days: ShareOut
    supported_in_time: ShareOut
    escalations: int | str
    hotline_funnel: FunnelOut
    deliveries: dict[str, dict[str, int | str]]
    suppressed: bool


class CaseCountOut(BaseModel):
    case_type: str
    province_code: str
    count: int | str


class ReferralCountOut(BaseModel):
    agency: str
    state: str
    count: int | str


class DeliveryCountOut(BaseModel):
    channel: str
    count: int | str


class Summary(BaseModel):
    cases: list[CaseCountOut]
    referrals: list[ReferralCountOut]
    deliveries: list[DeliveryCountOut]
