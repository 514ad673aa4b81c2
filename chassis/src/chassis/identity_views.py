"""Each agency's view of a case: the need-to-know fields, sealed under a key of their own.

The cases service derives one view key per (case, agency) from the case's data key and seals
that agency's fields under it. The views travel with the case's events, unopened, to the
agency's inbox; the agency's API opens one for an officer with the view key the cases
service releases for an active referral. A view key opens that agency's view of that case
and nothing else, and dies with the case's data key (erasure).
"""

from __future__ import annotations

from collections.abc import Mapping

from chassis.sealing import DataKey

_LABEL = "lienganh:identity-view:v1"


def view_key(data_key: DataKey, *, case_id: str, agency: str) -> DataKey:
    return data_key.derive(f"{_LABEL}:{case_id}:{agency}")


def _context(case_id: str, agency: str, field: str) -> str:
    # Bound to case, agency and field: a sealed value cannot be moved to another referral.
    return f"identity-view:{case_id}:{agency}:{field}"


def seal_view(
    key: DataKey, *, case_id: str, agency: str, fields: Mapping[str, str]
) -> dict[str, str]:
    return {
        field: key.seal(value, context=_context(case_id, agency, field))
        for field, value in fields.items()
    }


def open_view(
    key: DataKey, *, case_id: str, agency: str, tokens: Mapping[str, str]
) -> dict[str, str]:
    """Plain values; raises `chassis.crypto.DecryptionError` for a value it cannot open."""
    return {
        field: key.open(token, context=_context(case_id, agency, field))
        for field, token in tokens.items()
    }
