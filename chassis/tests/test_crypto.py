"""Field encryption at rest: AES-GCM with context binding, keyring files and rotation."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from chassis.crypto import DecryptionError, FieldCipher, add_key, load_or_create_keyring

NAME = "Nguyễn Thị Hoa"
CONTEXT = "case:0b6f4c1e:child_name"


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher({"k1": os.urandom(32)}, "k1")


def test_round_trip(cipher: FieldCipher):
    token = cipher.encrypt(NAME, context=CONTEXT)
    assert token.startswith("k1:")
    assert NAME not in token
    assert cipher.decrypt(token, context=CONTEXT) == NAME
    assert cipher.decrypt(cipher.encrypt("", context=CONTEXT), context=CONTEXT) == ""


def test_every_encryption_uses_a_fresh_nonce(cipher: FieldCipher):
    tokens = [cipher.encrypt(NAME, context=CONTEXT) for _ in range(50)]
    assert len(set(tokens)) == 50
    nonces = {base64.urlsafe_b64decode(t.split(":")[1] + "==")[:12] for t in tokens}
    assert len(nonces) == 50


@pytest.mark.parametrize(
    "other_context", ["case:0b6f4c1e:date_of_birth", "case:99999999:child_name", ""]
)
def test_wrong_context_fails(cipher: FieldCipher, other_context: str):
    """A value copied to another field or another case does not open there."""
    token = cipher.encrypt(NAME, context=CONTEXT)
    with pytest.raises(DecryptionError) as raised:
        cipher.decrypt(token, context=other_context)
    assert NAME not in str(raised.value)


def test_tampered_token_fails(cipher: FieldCipher):
    token = cipher.encrypt(NAME, context=CONTEXT)
    key_id, payload = token.split(":")
    blob = bytearray(base64.urlsafe_b64decode(payload + "=="))
    for index in (0, 12, len(blob) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(blob)
        flipped[index] ^= 0x01
        forged = f"{key_id}:{base64.urlsafe_b64encode(bytes(flipped)).rstrip(b'=').decode()}"
        with pytest.raises(DecryptionError, match="authentication failed"):
            cipher.decrypt(forged, context=CONTEXT)


@pytest.mark.parametrize("token", ["", "no-separator", "k1:", "k1:***", "k1:AAAA", "bad id:AAAA"])
def test_malformed_tokens_fail_cleanly(cipher: FieldCipher, token: str):
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context=CONTEXT)


def test_unknown_key_fails(cipher: FieldCipher):
    other = FieldCipher({"k9": os.urandom(32)}, "k9")
    with pytest.raises(DecryptionError, match="unknown key id 'k9'"):
        cipher.decrypt(other.encrypt(NAME, context=CONTEXT), context=CONTEXT)


def test_same_key_id_but_different_key_fails(cipher: FieldCipher):
    impostor = FieldCipher({"k1": os.urandom(32)}, "k1")
    with pytest.raises(DecryptionError):
        cipher.decrypt(impostor.encrypt(NAME, context=CONTEXT), context=CONTEXT)


@pytest.mark.parametrize(
    ("keys", "active"),
    [({"k1": b"short"}, "k1"), ({"k1": os.urandom(32)}, "k2"), ({"a:b": os.urandom(32)}, "a:b")],
)
def test_invalid_keyrings_are_refused(keys: dict[str, bytes], active: str):
    with pytest.raises(ValueError):
        FieldCipher(keys, active)


def test_rotation_keeps_old_tokens_readable_and_reseals_under_the_new_key():
    k1, k2 = os.urandom(32), os.urandom(32)
    old = FieldCipher({"k1": k1}, "k1")
    token = old.encrypt(NAME, context=CONTEXT)

    rotated = FieldCipher({"k1": k1, "k2": k2}, "k2")
    assert rotated.key_id_of(token) == "k1"
    assert rotated.needs_rotation(token)
    assert rotated.decrypt(token, context=CONTEXT) == NAME

    resealed = rotated.rotate(token, context=CONTEXT)
    assert rotated.key_id_of(resealed) == "k2"
    assert not rotated.needs_rotation(resealed)
    assert rotated.decrypt(resealed, context=CONTEXT) == NAME
    assert rotated.rotate(resealed, context=CONTEXT) == resealed
    with pytest.raises(DecryptionError):
        old.decrypt(resealed, context=CONTEXT)
    with pytest.raises(DecryptionError):  # rotation still checks the context
        rotated.rotate(token, context="case:other:child_name")


def test_keyring_is_created_once_with_mode_0600(tmp_path: Path):
    path = tmp_path / "keys" / "cases-keyring.json"
    cipher = load_or_create_keyring(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["active"] == "k1"
    assert len(base64.b64decode(document["keys"]["k1"])) == 32

    token = cipher.encrypt(NAME, context=CONTEXT)
    assert load_or_create_keyring(path).decrypt(token, context=CONTEXT) == NAME
    assert [p.name for p in path.parent.iterdir()] == ["cases-keyring.json"]


def test_processes_starting_together_share_one_keyring(tmp_path: Path):
    path = tmp_path / "keyring.json"
    barrier = threading.Barrier(4)
    ciphers: list[FieldCipher] = []

    def start() -> None:
        barrier.wait()
        ciphers.append(load_or_create_keyring(path))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ciphers) == 4
    token = ciphers[0].encrypt(NAME, context=CONTEXT)
    assert all(c.decrypt(token, context=CONTEXT) == NAME for c in ciphers)


def test_add_key_activates_a_new_key_and_keeps_the_old(tmp_path: Path):
    path = tmp_path / "keyring.json"
    token = load_or_create_keyring(path).encrypt(NAME, context=CONTEXT)

    assert add_key(path) == "k2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cipher = load_or_create_keyring(path)
    assert cipher.active_key_id == "k2"
    assert cipher.decrypt(token, context=CONTEXT) == NAME
    assert cipher.key_id_of(cipher.rotate(token, context=CONTEXT)) == "k2"
    assert add_key(path) == "k3"


def test_add_key_never_creates_a_keyring(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        add_key(tmp_path / "typo.json")
    assert list(tmp_path.iterdir()) == []


def test_malformed_keyring_error_does_not_leak_key_material(tmp_path: Path):
    path = tmp_path / "keyring.json"
    path.write_text('{"active": "k1", "keys": {"k1": "c2VjcmV0LWtleS1tYXRlcmlhbA==!"}}')
    path.chmod(0o600)
    with pytest.raises(ValueError) as raised:
        load_or_create_keyring(path)
    assert "c2VjcmV0" not in str(raised.value)
