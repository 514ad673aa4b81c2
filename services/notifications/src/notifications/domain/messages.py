"""What a notification says: what happened, where, how urgent — never who the child is."""

from __future__ import annotations

from contracts.referrals.v1 import ReferralStateChanged

_TITLES = {
    "vi": {
        "requested": "Yêu cầu chuyển tuyến mới ({case_type}, mức độ {risk_level})",
        "accepted": "Cơ quan {agency} đã tiếp nhận chuyển tuyến",
        "rejected": "Cơ quan {agency} đã từ chối chuyển tuyến",
        "completed": "Cơ quan {agency} đã hoàn thành chuyển tuyến",
    },
    "en": {
        "requested": "New referral ({case_type}, {risk_level} risk)",
        "accepted": "{agency} accepted the referral",
        "rejected": "{agency} rejected the referral",
        "completed": "{agency} completed the referral",
    },
}


def title(event: ReferralStateChanged, language: str) -> str:
    template = _TITLES.get(language, _TITLES["vi"]).get(event.to_state.value, "{agency}")
    return template.format(
        case_type=event.case_type.value,
        risk_level=event.risk_level.value,
        agency=event.agency,
    )
