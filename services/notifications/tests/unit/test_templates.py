"""Every template renders in both languages from the event examples, with no identity."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from contracts.cases.v1 import CaseDeadlineMissed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.vocabulary import ReferralState
from notifications.domain.happenings import (
    Happening,
    Kind,
    from_deadline_missed,
    from_escalation,
    from_state_change,
)
from notifications.messages import format_deadline, render

CHANNELS = ("in_app", "email", "sms", "webhook")
# Vietnamese letters English text never has.
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")


CHILD_NAME = "Đinh Thị Ngọc Ánh"
IDENTITY_FIELDS = {
    "child_name",
    "date_of_birth",
    "address",
    "phone",
    "guardian_name",
    "guardian_phone",
}


def examples() -> dict[Kind, Happening]:
    # Free text from agencies (a rejection reason, an actor) may name the child by mistake.
    created = ReferralStateChanged.example().model_copy(
        update={
            "from_state": None,
            "to_state": ReferralState.REQUESTED,
            "deadline": datetime(2026, 11, 2, 10, 15, tzinfo=UTC),
            "reason": f"Gọi từ đường dây 111 về em {CHILD_NAME}",
        }
    )
    rejected = ReferralStateChanged.example().model_copy(
        update={"to_state": ReferralState.REJECTED, "reason": f"{CHILD_NAME} đã chuyển đi"}
    )
    happenings = [
        from_state_change(created),
        from_state_change(rejected),
        from_escalation(ReferralEscalated.example()),
        from_deadline_missed(CaseDeadlineMissed.example()),
    ]
    return {h.kind: h for h in happenings if h is not None}


def test_every_kind_has_an_example():
    assert set(examples()) == set(Kind)


def test_templates_are_given_no_identity_field_and_no_free_text():
    fields = set(Happening.__dataclass_fields__)
    assert not fields & IDENTITY_FIELDS
    assert not fields & {"reason", "actor", "details", "summary"}


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("channel", CHANNELS)
def test_every_template_renders_in_vietnamese_and_english(kind: Kind, channel: str):
    happening = examples()[kind]
    vi = render(happening, channel, "vi", "https://lienganh.example.vn/inbox")  # type: ignore[arg-type]
    en = render(happening, channel, "en", "https://lienganh.example.vn/inbox")  # type: ignore[arg-type]
    assert vi.title and vi.body and en.title and en.body
    assert VIETNAMESE.search(vi.body), vi.body
    assert "Hà Nội" in vi.body and "Hà Nội" in en.body  # where, by name
    # English text carries Vietnamese only in proper names (the province).
    assert not VIETNAMESE.search(en.body.replace("Thành phố Hà Nội", "")), en.body
    for message in (vi, en):
        assert CHILD_NAME not in message.title + message.body
    if channel in ("email", "sms"):
        assert "https://lienganh.example.vn/inbox" in vi.body + en.body


def test_urgency_and_deadline_appear_in_the_recipients_language():
    happening = examples()[Kind.REFERRAL_REQUESTED]
    vi = render(happening, "email", "vi", "https://x/inbox")
    en = render(happening, "email", "en", "https://x/inbox")
    assert "Mức độ khẩn cấp: khẩn cấp" in vi.body
    assert "Urgency: urgent" in en.body
    assert "17:15 02/11/2026 (giờ Việt Nam)" in vi.body  # 10:15 UTC is 17:15 in Viet Nam
    assert "17:15 02/11/2026 (Viet Nam time)" in en.body
    assert vi.title.startswith("Yêu cầu chuyển tuyến mới")
    assert en.title.startswith("New referral")


def test_a_deadline_is_shown_in_viet_nam_time():
    assert format_deadline(datetime(2026, 1, 1, 20, 0, tzinfo=UTC), "vi") == (
        "03:00 02/01/2026 (giờ Việt Nam)"
    )
