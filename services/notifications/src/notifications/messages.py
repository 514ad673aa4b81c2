"""Renders what a notification says from the bilingual Jinja2 templates.

A message says what happened, where (province name), how urgent, the deadline and a link to
the inbox — never who the child is: templates only ever see a `Happening`, which has no
identity fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from vietnam_provinces import Province, ProvinceCode

from notifications.domain.happenings import Happening
from notifications.domain.recipients import ChannelKind, Language

VIETNAM_TIME = timezone(timedelta(hours=7))  # no daylight saving time in Viet Nam

LABELS: dict[Language, dict[str, dict[str, str]]] = {
    "vi": {
        "case_type": {
            "child_labour": "lao động trẻ em",
            "hazardous_child_labour": "lao động trẻ em nặng nhọc, độc hại, nguy hiểm",
            "child_trafficking": "mua bán trẻ em",
            "forced_labour": "lao động cưỡng bức",
            "at_risk": "trẻ em có nguy cơ",
        },
        "urgency": {"urgent": "khẩn cấp", "high": "cao", "medium": "trung bình", "low": "thấp"},
        "agency": {
            "police": "Công an",
            "dolisa": "Cơ quan Lao động - Thương binh và Xã hội",
            "education": "Ngành Giáo dục",
            "labour_inspection": "Thanh tra lao động",
        },
        "outcome": {
            "accepted": "đã tiếp nhận",
            "rejected": "đã từ chối",
            "completed": "đã hoàn thành",
            "failed": "không thực hiện được",
        },
        "clock": {
            "emergency_intervention": "can thiệp khẩn cấp (12 giờ)",
            "plan_approval": "phê duyệt kế hoạch hỗ trợ (5 ngày làm việc)",
        },
        "time": {"suffix": "giờ Việt Nam"},
    },
    "en": {
        "case_type": {
            "child_labour": "child labour",
            "hazardous_child_labour": "hazardous child labour",
            "child_trafficking": "child trafficking",
            "forced_labour": "forced labour",
            "at_risk": "child at risk",
        },
        "urgency": {"urgent": "urgent", "high": "high", "medium": "medium", "low": "low"},
        "agency": {
            "police": "Police",
            "dolisa": "Labour, Invalids and Social Affairs (DOLISA)",
            "education": "Education",
            "labour_inspection": "Labour inspection",
        },
        "outcome": {
            "accepted": "accepted",
            "rejected": "rejected",
            "completed": "completed",
            "failed": "could not carry out",
        },
        "clock": {
            "emergency_intervention": "emergency intervention (12 hours)",
            "plan_approval": "support plan approval (5 working days)",
        },
        "time": {"suffix": "Viet Nam time"},
    },
}


@dataclass(frozen=True)
class Message:
    title: str  # in-app text, e-mail subject
    body: str  # what the channel carries


def label(language: Language, group: str, code: str) -> str:
    """The word for a code; an unknown code (a new agency) is shown as it is."""
    return LABELS[language][group].get(code, code)


@cache
def province_name(code: str) -> str:
    try:
        return str(Province.from_code(ProvinceCode(int(code))).name)
    except (ValueError, KeyError):
        return code


def format_deadline(moment: datetime | None, language: Language) -> str | None:
    if moment is None:
        return None
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(VIETNAM_TIME)
    return f"{local:%H:%M %d/%m/%Y} ({label(language, 'time', 'suffix')})"


@cache
def _environment() -> Environment:
    # Plain text messages: no HTML escaping, but every variable must exist.
    return Environment(
        loader=PackageLoader("notifications", "templates/messages"),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # noqa: S701 - text/plain bodies, never rendered as HTML
        # Templates ship inside the package: no stat() of the file at every message.
        auto_reload=False,
    )


def render(
    happening: Happening, channel: ChannelKind, language: Language, inbox_url: str
) -> Message:
    context = {
        "case_type": label(language, "case_type", happening.case_type),
        "urgency": label(language, "urgency", happening.risk_level),
        "province": province_name(happening.province_code),
        "agency_name": label(language, "agency", happening.agency),
        "owner_agency_name": label(language, "agency", happening.owner_agency),
        "outcome": label(language, "outcome", happening.detail or ""),
        "clock": label(language, "clock", happening.detail or ""),
        "deadline": format_deadline(happening.deadline, language),
        "link": inbox_link(inbox_url, happening),
    }
    environment = _environment()
    title = environment.get_template(f"{language}/{happening.kind}.in_app.j2").render(context)
    body = environment.get_template(f"{language}/{happening.kind}.{channel}.j2").render(context)
    return Message(title=title.strip(), body=body.strip())


def inbox_link(inbox_url: str, happening: Happening) -> str:
    base = inbox_url.rstrip("/")
    return f"{base}/referrals/{happening.referral_id}" if happening.referral_id else base
