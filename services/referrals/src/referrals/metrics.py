"""Referral metrics (interface F): agency and province labels only, never a case."""

from __future__ import annotations

from prometheus_client import Counter

REFERRAL_TRANSITIONS = Counter(
    "lienganh_referral_transitions_total",
    "Referral state changes applied, by agency and new state.",
    ["agency", "to_state"],
)
REFERRAL_ESCALATIONS = Counter(
    "lienganh_referral_escalations_total",
    "Escalations and reminders for referrals past their deadline.",
    ["agency", "province"],
)
