"""Field encryption at rest (AES-256-GCM) for identity data, with key rotation.

A token is `<key_id>:<base64url(nonce || ciphertext+tag)>`. The caller's `context` (e.g.
"case:<id>:child_name") is authenticated as associated data, so a sealed value copied into
another record or field fails to decrypt instead of silently showing the wrong child.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DecryptionError",
    "FieldCipher",
    "add_key",
    "dump_key_set",
    "key_file_lock",
    "load_or_create_keyring",
    "read_key_set",
    "write_key_file",
]

KEY_BYTES = 32
NONCE_BYTES = 12  # 96-bit, random per value
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

logger = logging.getLogger(__name__)


class DecryptionError(Exception):
    """A token cannot be opened. Messages never carry plaintext, keys or the token itself."""


class FieldCipher:
    """Seals and opens string fields; any key in the ring opens, only the active one seals."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(f"invalid key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes")
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not in the keyring")
        self._aead = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.active_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{self.active_key_id}:{payload}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id, blob = self._split(token)
        aead = self._aead.get(key_id)
        if aead is None:
            raise DecryptionError(f"unknown key id {key_id!r}")
        if len(blob) <= NONCE_BYTES:
            raise DecryptionError("malformed token: too short")
        try:
            plaintext = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise DecryptionError(
                "authentication failed: wrong key, wrong context or tampered token"
            ) from None
        return plaintext.decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return self._split(token)[0]

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.active_key_id

    def rotate(self, token: str, *, context: str) -> str:
        """Re-seal under the active key; a token already under it is returned unchanged."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        key_id, sep, payload = token.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise DecryptionError("malformed token: expected '<key_id>:<payload>'")
        try:
            blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            raise DecryptionError("malformed token: payload is not base64url") from None
        return key_id, blob


# --- keyring file -------------------------------------------------------------------------


def load_or_create_keyring(path: Path) -> FieldCipher:
    """The cipher for a JSON keyring file, created with one fresh key on first (local) run."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Exclusive: if two processes start together, the first keyring wins and both use it.
        write_key_file(path, dump_key_set({"k1": _new_key()}, "k1"), exclusive=True)
    if path.stat().st_mode & 0o077:
        logger.warning("keyring %s is readable by group or others; chmod 600 it", path)
    keys, active = read_key_set(path)
    return FieldCipher(keys, active)


def add_key(path: Path) -> str:
    """Add a fresh key to an existing keyring and make it active; returns its id.

    Old keys stay, so existing tokens still open until they are rotated. Running services
    pick the new key up on restart.
    """
    path = Path(path)
    if not path.exists():  # never create one here: a typo'd path must not "rotate" nothing
        raise FileNotFoundError(f"no keyring at {path}")
    with key_file_lock(path):
        keys, _ = read_key_set(path)
        numbers = [int(key_id[1:]) for key_id in keys if re.fullmatch(r"k\d+", key_id)]
        key_id = f"k{max(numbers, default=0) + 1}"
        keys[key_id] = _new_key()
        write_key_file(path, dump_key_set(keys, key_id), exclusive=False)
    return key_id


def _new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def dump_key_set(keys: Mapping[str, bytes], active: str) -> bytes:
    """A key set file: `{"active": id, "keys": {id: base64}}` (keyrings and key pairs)."""
    document = {
        "active": active,
        "keys": {key_id: base64.b64encode(key).decode("ascii") for key_id, key in keys.items()},
    }
    return json.dumps(document, indent=2).encode("utf-8")


def read_key_set(path: Path) -> tuple[dict[str, bytes], str]:
    """The keys and active key id of a key set file; ValueError (no key material in it) when
    it is malformed."""
    try:
        document = json.loads(path.read_bytes())
        active = document["active"]
        keys = {
            str(key_id): base64.b64decode(value, validate=True)
            for key_id, value in document["keys"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # No detail from the document: it holds key material.
        raise ValueError(f"key set {path} is malformed ({type(error).__name__})") from None
    if not isinstance(active, str) or active not in keys:
        raise ValueError(f"key set {path} is malformed (active key missing)")
    return keys, active


def write_key_file(path: Path, content: bytes, *, exclusive: bool) -> None:
    """Readers never see a half-written keyring: write a 0600 temp file, then link/rename."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp creates it 0600
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        if exclusive:
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        else:
            os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


@contextlib.contextmanager
def key_file_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the keyring: a lost update would lose a key, and with
    it every value sealed under that key."""
    try:
        import fcntl
    except ImportError:  # not POSIX: rotation is an operator command, run one at a time
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
