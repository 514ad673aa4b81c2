"""Blocking keys for probable duplicates, without spreading identity. No I/O.

Two keyed hashes (HMAC-SHA256 with a secret only the cases service holds) of normalised
name + date of birth + commune: one exact ("Nguyễn Thị Hoa"), one with diacritics folded
("Nguyen Thi Hoa"), so a report typed without accents still meets the original. The keys
cannot be reversed or recomputed without the secret, so they may sit in an index.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache


class MatchKind(StrEnum):
    EXACT = "exact"
    WITHOUT_DIACRITICS = "without_diacritics"


@dataclass(frozen=True)
class BlockingKeys:
    """Two keyed hashes of (name, date of birth, commune): `exact` of the normalised name,
    `folded` of it without diacritics. Two reports with the same `exact` key have the same
    `folded` key, so stores look candidates up by `folded` alone."""

    exact: str
    folded: str


def normalise_name(name: str) -> str:
    """Case, spacing and Unicode form do not matter: NFC, lower case, single spaces."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def fold_diacritics(text: str) -> str:
    """'nguyễn thị hoa' → 'nguyen thi hoa' (đ has no decomposition, so it is mapped)."""
    return " ".join(_fold_word(word) for word in text.split(" "))


@lru_cache(maxsize=4096)
def _fold_word(word: str) -> str:
    # Names share few words (Nguyễn, Thị, Văn…): each is folded once, not once a report.
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def blocking_keys(
    secret: bytes, full_name: str, date_of_birth: date | None, commune_code: str
) -> BlockingKeys | None:
    """None without a date of birth: name + commune alone would link too many children."""
    if date_of_birth is None:
        return None
    name = normalise_name(full_name)

    def key(variant: str, text: str) -> str:
        message = f"{variant}|{text}|{date_of_birth.isoformat()}|{commune_code}"
        return hmac.digest(secret, message.encode("utf-8"), "sha256").hex()

    return BlockingKeys(exact=key("exact", name), folded=key("folded", fold_diacritics(name)))


def match_kind(mine: BlockingKeys, theirs_exact: str, theirs_folded: str) -> MatchKind | None:
    if hmac.compare_digest(mine.exact, theirs_exact):
        return MatchKind.EXACT
    if hmac.compare_digest(mine.folded, theirs_folded):
        return MatchKind.WITHOUT_DIACRITICS
    return None
