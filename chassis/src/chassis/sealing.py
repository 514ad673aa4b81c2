"""Sealed values: identity that rests or travels only encrypted, padded and bound to its place.

Two kinds of token, told apart by their prefix (neither can be mistaken for a keyring token
`<key_id>:<…>`, whose key id has no dot):

- `sv1.<b64url(nonce ‖ ciphertext)>`: sealed under a per-case data key (`DataKey`) with
  AES-256-GCM. Each case has its own key (envelope encryption: the data key is stored only
  wrapped by the service keyring), so destroying that one key erases every copy of the
  child's identity at once, wherever the tokens went (crypto-shredding).
- `pk1.<key_id>.<b64url(hpke)>`: sealed to a public key (`PublicSealer`) with HPKE
  (RFC 9180: X25519, HKDF-SHA256, AES-256-GCM). Whoever holds the public key can seal and
  never open: agencies seal case reports for the cases service alone, consumers seal dead
  letters for the operators alone.

The caller's `context` (e.g. "case:<id>:child_name") is bound to the token (AEAD associated
data, HPKE `info`): a token copied to another case or field does not open there. Every
plaintext is padded to a power-of-two bucket of at least 32 bytes before sealing, so a token's
length says nothing finer than its bucket (`male` and `female` seal to the same length).
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chassis.crypto import DecryptionError
from contracts.sealed import SEALED_TOKEN_PATTERN

__all__ = [
    "SEALED_TOKEN_PATTERN",
    "DataKey",
    "PrivateOpener",
    "PublicSealer",
    "is_sealed",
    "pad",
    "split_public_token",
    "unpad",
]

DATA_KEY_PREFIX = "sv1."
PUBLIC_KEY_PREFIX = "pk1."
_SEALED = re.compile(SEALED_TOKEN_PATTERN)
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

KEY_BYTES = 32
NONCE_BYTES = 12
MIN_BUCKET = 32
_LENGTH_BYTES = 4
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def is_sealed(value: str) -> bool:
    """True for a well-formed sealed token (says nothing about who can open it)."""
    return bool(_SEALED.match(value))


# --- padding ------------------------------------------------------------------------------


def pad(data: bytes) -> bytes:
    """Length-prefixed and zero-filled to the next power-of-two bucket (at least 32 bytes)."""
    framed = len(data).to_bytes(_LENGTH_BYTES, "big") + data
    bucket = max(MIN_BUCKET, 1 << (len(framed) - 1).bit_length())
    return framed.ljust(bucket, b"\0")


def unpad(padded: bytes) -> bytes:
    if len(padded) < _LENGTH_BYTES:
        raise DecryptionError("malformed sealed value: no length")
    length = int.from_bytes(padded[:_LENGTH_BYTES], "big")
    if length > len(padded) - _LENGTH_BYTES:
        raise DecryptionError("malformed sealed value: bad length")
    return padded[_LENGTH_BYTES : _LENGTH_BYTES + length]


def _b64encode(blob: bytes) -> str:
    # `base64.urlsafe_b64encode` in one step: a seal of an agency's view is ~20 a case.
    return binascii.b2a_base64(blob, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("malformed token: payload is not base64url") from None


# --- per-case data keys -------------------------------------------------------------------


class DataKey:
    """One case's data key: seals that case's identity values (`sv1.` tokens)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes")
        self._key = bytes(key)
        self._aead = AESGCM(self._key)

    @classmethod
    def generate(cls) -> DataKey:
        return cls(os.urandom(KEY_BYTES))

    @property
    def material(self) -> bytes:
        """The raw key, for wrapping under the service keyring or releasing a derived one."""
        return self._key

    def derive(self, label: str) -> DataKey:
        """A key for one purpose (e.g. one agency's view): opening its tokens opens nothing
        else of the case, and it dies with this key."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode())
        return DataKey(hkdf.derive(self._key))

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, pad(plaintext.encode("utf-8")), context.encode())
        return DATA_KEY_PREFIX + _b64encode(nonce + sealed)

    def open(self, token: str, *, context: str) -> str:
        if not token.startswith(DATA_KEY_PREFIX):
            raise DecryptionError("not a data-key token")
        blob = _b64decode(token[len(DATA_KEY_PREFIX) :])
        if len(blob) <= NONCE_BYTES:
            raise DecryptionError("malformed token: too short")
        try:
            padded = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise DecryptionError(
                "authentication failed: wrong key, wrong context or tampered token"
            ) from None
        return unpad(padded).decode("utf-8")


# --- public-key sealing -------------------------------------------------------------------


class PublicSealer:
    """Seals to the active public key of a key set; cannot open anything."""

    def __init__(self, keys: dict[str, X25519PublicKey], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not in the public key set")
        self._keys = dict(keys)
        self.active_key_id = active_key_id

    def seal(self, plaintext: str, *, context: str) -> str:
        return self.seal_bytes(plaintext.encode("utf-8"), context=context)

    def seal_bytes(self, data: bytes, *, context: str) -> str:
        sealed = _SUITE.encrypt(pad(data), self._keys[self.active_key_id], info=context.encode())
        return f"{PUBLIC_KEY_PREFIX}{self.active_key_id}.{_b64encode(sealed)}"


class PrivateOpener:
    """Opens `pk1.` tokens sealed to any key of its set (old keys open until retired)."""

    def __init__(self, keys: dict[str, X25519PrivateKey]) -> None:
        self._keys = dict(keys)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def open(self, token: str, *, context: str) -> str:
        return self.open_bytes(token, context=context).decode("utf-8")

    def open_bytes(self, token: str, *, context: str) -> bytes:
        key_id, blob = split_public_token(token)
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"sealed under key {key_id!r}, which is unknown or retired")
        try:
            padded = _SUITE.decrypt(blob, key, info=context.encode())
        except (InvalidTag, ValueError):
            raise DecryptionError(
                "authentication failed: wrong key, wrong context or tampered token"
            ) from None
        return unpad(padded)


def split_public_token(token: str) -> tuple[str, bytes]:
    """The key id and HPKE blob of a `pk1.` token."""
    if not token.startswith(PUBLIC_KEY_PREFIX):
        raise DecryptionError("not a public-key token")
    key_id, sep, payload = token[len(PUBLIC_KEY_PREFIX) :].partition(".")
    if not sep or not _KEY_ID.match(key_id):
        raise DecryptionError("malformed token: expected 'pk1.<key_id>.<payload>'")
    return key_id, _b64decode(payload)
