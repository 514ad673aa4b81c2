"""Sealing and opening a case's identity columns with the service's `FieldCipher`."""

from __future__ import annotations

from datetime import date

from cases.adapters.keyring import Cipher
from cases.adapters.tables import SEALED_COLUMNS, CaseRecord
from cases.domain.commands import ChildIdentity, Workplace


def _context(case_id: str, field: str) -> str:
    return f"case:{case_id}:{field}"


def sealed_columns(
    cipher: Cipher,
    case_id: str,
    child: ChildIdentity,
    workplace: Workplace | None,
    summary: str | None,
) -> dict[str, str | None]:
    """Column → token for every identity value of a new case (None when absent)."""
    workplace = workplace or Workplace()
    plain = {
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
    sealed: dict[str, str | None] = {}
    for column, field in SEALED_COLUMNS.items():
        value = plain[field]
        sealed[column] = cipher.encrypt(value, context=_context(case_id, field)) if value else None
    return sealed


def open_all(cipher: Cipher, record: CaseRecord) -> dict[str, str | None]:
    """Field name → plaintext of every sealed column of a case (only for need-to-know use)."""
    opened: dict[str, str | None] = {}
    for column, field in SEALED_COLUMNS.items():
        token = getattr(record, column)
        opened[field] = cipher.decrypt(token, context=_context(record.id, field)) if token else None
    return opened


def date_of_birth(cipher: Cipher, record: CaseRecord) -> date | None:
    token = record.date_of_birth_enc
    if not token:
        return None
    return date.fromisoformat(cipher.decrypt(token, context=_context(record.id, "date_of_birth")))


def reseal(cipher: Cipher, record: CaseRecord) -> bool:
    """Re-seal every column under the active key; True when anything changed."""
    changed = False
    for column, field in SEALED_COLUMNS.items():
        token = getattr(record, column)
        if token and cipher.needs_rotation(token):
            setattr(record, column, cipher.rotate(token, context=_context(record.id, field)))
            changed = True
    return changed
