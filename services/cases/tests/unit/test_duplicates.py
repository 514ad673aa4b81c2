"""Blocking keys: the same child meets itself with or without diacritics, never in clear."""

from __future__ import annotations

import itertools
import unicodedata
from datetime import date

from cases.domain.duplicates import (
    MatchKind,
    blocking_keys,
    fold_diacritics,
    match_kind,
    normalise_name,
)

SECRET = b"s" * 32
BORN = date(2013, 4, 2)


def keys(name: str, born: date | None = BORN, commune: str = "00070", secret: bytes = SECRET):
    return blocking_keys(secret, name, born, commune)


def test_the_same_name_typed_differently_is_an_exact_match():
    a, b = keys("Nguyễn Thị Hoa"), keys("  nguyễn   THỊ hoa ")
    assert a and b and match_kind(a, b.exact, b.folded) is MatchKind.EXACT


def test_a_name_without_diacritics_matches_the_folded_key_only():
    accented, plain = keys("Nguyễn Thị Hoa"), keys("Nguyen Thi Hoa")
    assert accented and plain and accented.exact != plain.exact
    assert match_kind(plain, accented.exact, accented.folded) is MatchKind.WITHOUT_DIACRITICS
    dang, dang_plain = keys("Đặng Văn Nam"), keys("Dang Van Nam")
    assert dang and dang_plain and dang.folded == dang_plain.folded


def test_folding_keeps_every_other_character_where_it_was():
    assert fold_diacritics(" Đặng  Thị\tHường ") == " Dang  Thi\tHuong "
    assert fold_diacritics("ĐỖ ÁNH") == "DO ANH"
    assert fold_diacritics("") == ""
    # Folded word by word, and words are remembered: the same word folds the same again.
    assert fold_diacritics("Hường Hường") == "Huong Huong"


def test_an_exact_match_always_shares_the_folded_key():
    # What lets the stores look candidates up by the folded key alone.
    names = ["Nguyễn Thị Hoa", "NGUYỄN THỊ HOA", " nguyễn  thị hoa", "Đặng Văn Nam", "đặng văn nam"]
    typed = [keys(name) for name in names] + [keys(unicodedata.normalize("NFD", n)) for n in names]
    for a, b in itertools.product(typed, repeat=2):
        assert a and b
        if a.exact == b.exact:
            assert a.folded == b.folded
    assert len({k.exact for k in typed if k}) == 2  # the pairs above did meet


def test_another_birthday_commune_or_name_is_no_match():
    original = keys("Nguyễn Thị Hoa")
    assert original
    for other in (
        keys("Nguyễn Thị Hoa", born=date(2013, 4, 3)),
        keys("Nguyễn Thị Hoa", commune="00073"),
        keys("Nguyễn Thị Lan"),
    ):
        assert other and match_kind(original, other.exact, other.folded) is None


def test_keys_depend_on_the_secret_and_do_not_contain_the_name():
    a, b = keys("Nguyễn Thị Hoa"), keys("Nguyễn Thị Hoa", secret=b"t" * 32)
    assert a and b and a.exact != b.exact
    assert "hoa" not in a.exact + a.folded


def test_no_date_of_birth_no_key():
    assert keys("Nguyễn Thị Hoa", born=None) is None


def test_normalised_names_are_nfc_lower_case_single_spaced():
    decomposed = "Nguye\u0302\u0303n"  # NFD "Nguyễn"
    assert normalise_name(f" {decomposed}  Thị ") == "nguyễn thị"
