"""Need-to-know referral details, sealed for one agency from sender to inbox.

The referrals service seals each detail value with the recipient agency's keyring before
the event enters its outbox; only that agency's service opens it. So the child's identity
is readable neither in the referrals database, nor on the Kafka topic, nor in the agency's
inbox database (encrypted at rest) — only in the inbox API, to that agency's officers.
Locally both sides find the keyring under the shared keys folder; in deployment it is the
secret the two services share for that agency.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chassis.crypto import FieldCipher, load_or_create_keyring


def details_keyring_path(keys_dir: Path, agency: str) -> Path:
    return keys_dir / f"referral-details-{agency}.keyring.json"


def details_cipher(keys_dir: Path, agency: str) -> FieldCipher:
    return load_or_create_keyring(details_keyring_path(keys_dir, agency))


def _context(case_id: str, agency: str, field: str) -> str:
    # Bound to case, agency and field: a sealed value cannot be moved to another referral.
    return f"referral-details:{case_id}:{agency}:{field}"


def seal_details(
    cipher: FieldCipher, *, case_id: str, agency: str, details: Mapping[str, str]
) -> dict[str, str]:
    return {
        field: cipher.encrypt(value, context=_context(case_id, agency, field))
        for field, value in details.items()
    }


def open_details(
    cipher: FieldCipher, *, case_id: str, agency: str, details: Mapping[str, str]
) -> dict[str, str]:
    """Plain values; raises `chassis.crypto.DecryptionError` for a value it cannot open."""
    return {
        field: cipher.decrypt(value, context=_context(case_id, agency, field))
        for field, value in details.items()
    }
