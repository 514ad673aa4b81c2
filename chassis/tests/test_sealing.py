"""Sealed values: per-case data keys, public-key sealing, padding, key-pair files."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.crypto import DecryptionError
from chassis.identity_views import open_view, seal_view, view_key
from chassis.keypairs import (
    Reloading,
    add_keypair,
    load_opener,
    load_or_create_keypair,
    load_sealer,
    public_path_for,
    retire_keys,
)
from chassis.sealing import MIN_BUCKET, DataKey, is_sealed, pad, unpad

NAME = "Nguyễn Thị Canary"
CONTEXT = "case:0b6f4c1e:child_name"


@pytest.mark.parametrize("size", [0, 1, 27, 28, 29, 60, 61, 124, 125, 1000, 5000])
def test_padding_round_trips_into_power_of_two_buckets(size: int):
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    padded = pad(data)
    assert len(padded) >= MIN_BUCKET and len(padded) & (len(padded) - 1) == 0
    assert len(padded) == MIN_BUCKET or len(padded) < 2 * (size + 4)  # the smallest that fits
    assert padded[4 + size :] == bytes(len(padded) - 4 - size)  # zero-filled
    assert unpad(padded) == data


def test_sealed_values_do_not_reveal_their_length():
    key = DataKey.generate()
    male, female = (key.seal(value, context="case:1:sex") for value in ("male", "female"))
    assert len(male) == len(female)
    short, long = (key.seal(v, context=CONTEXT) for v in ("An", "Nguyễn Thị Minh Khai Hà"))
    assert len(short) == len(long)


def test_a_data_key_opens_only_its_own_tokens_in_their_own_place():
    key = DataKey.generate()
    token = key.seal(NAME, context=CONTEXT)
    assert is_sealed(token) and token.startswith("sv1.") and NAME not in token
    assert key.open(token, context=CONTEXT) == NAME
    with pytest.raises(DecryptionError):
        key.open(token, context="case:0b6f4c1e:address")  # moved to another field
    with pytest.raises(DecryptionError):
        DataKey.generate().open(token, context=CONTEXT)  # another case's key
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionError):
        key.open(tampered, context=CONTEXT)


def test_an_agency_view_key_opens_that_view_and_nothing_else():
    case_key = DataKey.generate()
    police = view_key(case_key, case_id="c1", agency="police")
    view = seal_view(police, case_id="c1", agency="police", fields={"child_name": NAME})
    assert open_view(police, case_id="c1", agency="police", tokens=view) == {"child_name": NAME}
    dolisa = view_key(case_key, case_id="c1", agency="dolisa")
    with pytest.raises(DecryptionError):
        open_view(dolisa, case_id="c1", agency="police", tokens=view)
    with pytest.raises(DecryptionError):  # the released view key does not open the case store
        police.open(case_key.seal(NAME, context=CONTEXT), context=CONTEXT)
    assert view_key(case_key, case_id="c1", agency="police").material == police.material


def test_public_key_sealing_opens_only_with_the_private_half(tmp_path: Path):
    private = tmp_path / "intake.private.json"
    load_or_create_keypair(private)
    public = public_path_for(private)
    assert "keys" in public.read_text() and public.read_text() != private.read_text()
    token = load_sealer(public).seal(NAME, context="case-report:c1:police")
    assert token.startswith("pk1.p1.") and NAME not in token
    assert load_opener(private).open(token, context="case-report:c1:police") == NAME
    with pytest.raises(DecryptionError):
        load_opener(private).open(token, context="case-report:c2:police")


def test_a_retired_key_opens_nothing_it_sealed(tmp_path: Path):
    private = tmp_path / "intake.private.json"
    load_or_create_keypair(private)
    old = load_sealer(public_path_for(private)).seal(NAME, context="x")
    assert add_keypair(private) == "p2"
    new = load_sealer(public_path_for(private)).seal(NAME, context="x")
    assert new.startswith("pk1.p2.")
    assert load_opener(private).open(old, context="x") == NAME  # rotation keeps old keys
    assert retire_keys(private) == ["p1"]
    with pytest.raises(DecryptionError, match="unknown or retired"):
        load_opener(private).open(old, context="x")
    assert load_opener(private).open(new, context="x") == NAME


def test_running_processes_see_a_rotation_without_a_restart(tmp_path: Path):
    private = tmp_path / "intake.private.json"
    load_or_create_keypair(private)
    sealer = Reloading(public_path_for(private), load_sealer)
    assert sealer.current().active_key_id == "p1"
    add_keypair(private)
    assert sealer.current().active_key_id == "p2"


def test_first_use_by_two_processes_makes_one_pair(tmp_path: Path):
    private = tmp_path / "keys" / "pair.private.json"
    load_or_create_keypair(private)
    first = private.read_bytes()
    load_or_create_keypair(private)
    assert private.read_bytes() == first
    assert private.stat().st_mode & 0o077 == 0


def test_tokens_are_unpadded_base64url_that_open_again():
    key = DataKey.generate()
    tokens = [key.seal(NAME * (n % 5), context=CONTEXT) for n in range(300)]
    payloads = [token.removeprefix("sv1.") for token in tokens]
    # ~300 random payloads hold every base64 character but never "+", "/" or "=".
    assert {"-", "_"} <= set("".join(payloads)) and not set("+/=") & set("".join(payloads))
    assert all(is_sealed(token) for token in tokens)
    assert [key.open(token, context=CONTEXT) for token in tokens] == [
        NAME * (n % 5) for n in range(300)
    ]
