"""A case's identity: its data key, its sealed columns, and each agency's sealed view.

Envelope encryption: every case has its own data key, stored only wrapped by the service
keyring (`case_data_keys`). The identity columns are sealed under it, and so are the views
each agency receives (under keys derived from it). Destroying it erases them all.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date, datetime

from sqlmodel import Session

from cases.adapters.keyring import Cipher
from cases.adapters.tables import SEALED_COLUMNS, CaseDataKey, CaseRecord
from cases.domain.commands import ChildIdentity, Workplace
from chassis.identity_views import seal_view, view_key
from chassis.sealing import DATA_KEY_PREFIX, DataKey
from contracts.referrals.field_policy import field_policy
from contracts.vocabulary import CaseType


class IdentityErased(Exception):
    """The case's data key was destroyed: its identity no longer opens anywhere."""


def _context(case_id: str, field: str) -> str:
    return f"case:{case_id}:{field}"


def _wrap_context(case_id: str) -> str:
    return f"case-key:{case_id}"


# --- data keys ----------------------------------------------------------------------------


def new_data_key(keyring: Cipher, case_id: str) -> tuple[DataKey, str]:
    """A fresh data key for the case, and that key wrapped by the keyring (what its
    `case_data_keys` row keeps)."""
    key = DataKey.generate()
    return key, wrap(keyring, case_id, key)


def wrap(keyring: Cipher, case_id: str, key: DataKey) -> str:
    material = base64.b64encode(key.material).decode("ascii")
    return keyring.encrypt(material, context=_wrap_context(case_id))


def data_key(session: Session, keyring: Cipher, case_id: str) -> DataKey | None:
    """The case's data key; None for a case stored before per-case keys. Raises
    `IdentityErased` once it was destroyed."""
    return unwrap(keyring, session.get(CaseDataKey, case_id))


def unwrap(keyring: Cipher, row: CaseDataKey | None) -> DataKey | None:
    """The data key a `case_data_keys` row keeps (None for no row); `IdentityErased` once
    it was destroyed."""
    if row is None:
        return None
    if row.wrapped_key is None:
        raise IdentityErased(row.case_id)
    material = keyring.decrypt(row.wrapped_key, context=_wrap_context(row.case_id))
    return DataKey(base64.b64decode(material))


def rewrap(keyring: Cipher, row: CaseDataKey) -> bool:
    """Re-wrap under the keyring's active key; True when it changed (rotation)."""
    if row.wrapped_key is None or not keyring.needs_rotation(row.wrapped_key):
        return False
    row.wrapped_key = keyring.rotate(row.wrapped_key, context=_wrap_context(row.case_id))
    return True


# --- sealed columns -----------------------------------------------------------------------


def plain_identity(
    child: ChildIdentity, workplace: Workplace | None, summary: str | None
) -> dict[str, str | None]:
    """Field name → plaintext of every value the cases store keeps sealed."""
    workplace = workplace or Workplace()
    return {
        "child_name": child.full_name,
        "date_of_birth": child.date_of_birth.isoformat() if child.date_of_birth else None,
        "address": child.address,
        "phone": child.phone,
        "guardian_name": child.guardian_name,
        "guardian_phone": child.guardian_phone,
        "workplace_name": workplace.name,
        "workplace_address": workplace.address,
        "employer_name": workplace.employer_name,
        "summary": summary,
    }


def sealed_columns(
    key: DataKey, case_id: str, plain: Mapping[str, str | None]
) -> dict[str, str | None]:
    """Column → token for every identity value of a new case (None when absent)."""
    return {
        column: key.seal(value, context=_context(case_id, field))
        if (value := plain[field])
        else None
        for column, field in SEALED_COLUMNS.items()
    }


def open_all(session: Session, keyring: Cipher, record: CaseRecord) -> dict[str, str | None]:
    """Field name → plaintext of every sealed column (only for need-to-know use)."""
    return open_under(keyring, record, session.get(CaseDataKey, record.id))


def open_under(
    keyring: Cipher, record: CaseRecord, key_row: CaseDataKey | None
) -> dict[str, str | None]:
    """`open_all` with the case's data-key row already read (None: stored before per-case
    keys)."""
    key = unwrap(keyring, key_row)
    opened: dict[str, str | None] = {}
    for column, field in SEALED_COLUMNS.items():
        token = getattr(record, column)
        opened[field] = _open(token, key, keyring, _context(record.id, field)) if token else None
    return opened


def _open(token: str, key: DataKey | None, keyring: Cipher, context: str) -> str:
    if token.startswith(DATA_KEY_PREFIX):
        if key is None:
            raise IdentityErased("no data key for a sealed value")
        return key.open(token, context=context)
    return keyring.decrypt(token, context=context)  # stored before per-case keys


def date_of_birth(opened: Mapping[str, str | None]) -> date | None:
    value = opened.get("date_of_birth")
    return date.fromisoformat(value) if value else None


def present_fields(record: CaseRecord) -> frozenset[str]:
    """The identity fields the case has a value for, read without opening anything."""
    present = {field for column, field in SEALED_COLUMNS.items() if getattr(record, column)}
    return frozenset(present | {"sex"} | ({"industry"} if record.industry else set()))


def reseal_legacy(session: Session, keyring: Cipher, record: CaseRecord, now: datetime) -> bool:
    """Move a case stored before per-case keys under a data key of its own."""
    if session.get(CaseDataKey, record.id) is not None or record.identity_erased_at:
        return False
    opened = open_all(session, keyring, record)
    key, wrapped = new_data_key(keyring, record.id)
    session.add(CaseDataKey(case_id=record.id, wrapped_key=wrapped, created_at=now))
    for column, token in sealed_columns(key, record.id, opened).items():
        setattr(record, column, token)
    return True


def erase(record: CaseRecord, key_row: CaseDataKey | None, *, actor: str, now: datetime) -> None:
    """Destroy the data key and clear every sealed column and keyed hash of the case."""
    if key_row is not None:
        key_row.wrapped_key = None
        key_row.erased_at, key_row.erased_by = now, actor
    for column in SEALED_COLUMNS:
        setattr(record, column, None)
    record.child_name_enc = ""
    record.dedup_key = record.dedup_key_folded = None
    record.identity_erased_at = now


# --- agencies' views ----------------------------------------------------------------------


def agency_views(
    key: DataKey, case_id: str, case_type: CaseType, available: Mapping[str, str | None]
) -> dict[str, dict[str, str]]:
    """Each agency's need-to-know fields under the field policy, sealed for that agency."""
    policy = field_policy()
    views: dict[str, dict[str, str]] = {}
    for agency in policy.agencies:
        fields = policy.minimise(agency, case_type, dict(available))
        if fields:
            views[agency] = seal_view(
                view_key(key, case_id=case_id, agency=agency),
                case_id=case_id,
                agency=agency,
                fields=fields,
            )
    return views
