"""Key-pair files for public-key sealing: a private set kept by the one who opens, and the
public set derived from it, handed to everyone who seals.

Both are JSON: `{"active": "p1", "keys": {"p1": "<base64 raw X25519 key>"}}`. A rotation adds a
pair and makes it active (old private keys still open what was sealed before); retiring a key
deletes its private half, after which nothing sealed to it opens anywhere (that is how the
copies on an immutable log are shredded). Running processes see changes through `Reloading`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from chassis.crypto import dump_key_set, key_file_lock, read_key_set, write_key_file
from chassis.sealing import PrivateOpener, PublicSealer

__all__ = [
    "Reloading",
    "add_keypair",
    "load_opener",
    "load_or_create_keypair",
    "load_sealer",
    "public_path_for",
    "retire_keys",
]

T = TypeVar("T")


def public_path_for(private_path: Path) -> Path:
    """`cases-intake.private.json` → `cases-intake.public.json` (same folder)."""
    name = private_path.name.replace(".private.", ".public.")
    if name == private_path.name:
        name = f"{private_path.stem}.public.json"
    return private_path.with_name(name)


def load_or_create_keypair(private_path: Path, public_path: Path | None = None) -> None:
    """Create the pair on first (local) use; refresh the public file from the private one."""
    public_path = public_path or public_path_for(private_path)
    if not private_path.exists():
        private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Exclusive: of two processes starting together, the first pair wins for both.
        write_key_file(private_path, dump_key_set({"p1": _new_private()}, "p1"), exclusive=True)
    _write_public(private_path, public_path)


def add_keypair(private_path: Path, public_path: Path | None = None) -> str:
    """Add a pair and make it active; returns its key id. Old pairs stay until retired."""
    public_path = public_path or public_path_for(private_path)
    if not private_path.exists():
        raise FileNotFoundError(f"no private key set at {private_path}")
    with key_file_lock(private_path):
        keys, _ = read_key_set(private_path)
        numbers = [int(k[1:]) for k in keys if re.fullmatch(r"p\d+", k)]
        key_id = f"p{max(numbers, default=0) + 1}"
        keys[key_id] = _new_private()
        write_key_file(private_path, dump_key_set(keys, key_id), exclusive=False)
    _write_public(private_path, public_path)
    return key_id


def retire_keys(
    private_path: Path, public_path: Path | None = None, *, keep: Iterable[str] = ()
) -> list[str]:
    """Delete every private key but the active one and `keep`; returns the retired ids."""
    public_path = public_path or public_path_for(private_path)
    with key_file_lock(private_path):
        keys, active = read_key_set(private_path)
        kept = {active, *keep}
        retired = sorted(key_id for key_id in keys if key_id not in kept)
        remaining = {key_id: key for key_id, key in keys.items() if key_id in kept}
        write_key_file(private_path, dump_key_set(remaining, active), exclusive=False)
    _write_public(private_path, public_path)
    return retired


def load_opener(private_path: Path) -> PrivateOpener:
    keys, _ = read_key_set(private_path)
    return PrivateOpener({k: X25519PrivateKey.from_private_bytes(v) for k, v in keys.items()})


def load_sealer(public_path: Path) -> PublicSealer:
    if not public_path.exists():
        raise FileNotFoundError(f"no public key set at {public_path}")
    keys, active = read_key_set(public_path)
    return PublicSealer({k: X25519PublicKey.from_public_bytes(v) for k, v in keys.items()}, active)


def active_key_id(path: Path) -> str:
    return read_key_set(path)[1]


class Reloading(Generic[T]):
    """A value loaded from a key file, loaded again whenever the file changes (a stat per
    call): a rotation or retirement takes effect in running processes without a restart."""

    def __init__(self, path: Path, load: Callable[[Path], T]) -> None:
        self._path = Path(path)
        self._name = os.fspath(self._path)  # `os.stat` on text: a third of `Path.stat`
        self._load = load
        self._lock = threading.Lock()
        self._stamp = self._read_stamp()
        self._value = load(self._path)

    def _read_stamp(self) -> tuple[int, int, int]:
        stat = os.stat(self._name)
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def current(self) -> T:
        stamp = self._read_stamp()
        if stamp != self._stamp:
            with self._lock:
                self._value = self._load(self._path)
                self._stamp = stamp
        return self._value


def _new_private() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )


def _write_public(private_path: Path, public_path: Path) -> None:
    keys, active = read_key_set(private_path)
    public = {
        key_id: X25519PrivateKey.from_private_bytes(key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
        for key_id, key in keys.items()
    }
    content = dump_key_set(public, active)
    if public_path.exists() and public_path.read_bytes() == content:
        return
    public_path.parent.mkdir(parents=True, exist_ok=True)
    write_key_file(public_path, content, exclusive=False)
