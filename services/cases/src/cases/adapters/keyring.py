"""The identity keyring as running processes see it: reloaded when the file changes.

A key rotation (`python -m cases rotate-keys`) adds a key to the file and re-seals rows while
the API and worker keep serving; they must open rows sealed under the new key at once, and
seal new rows under it, so they re-read the file whenever its stamp changes (a stat per call).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from chassis.crypto import FieldCipher, load_or_create_keyring


class Cipher(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, token: str, *, context: str) -> str: ...
    def needs_rotation(self, token: str) -> bool: ...
    def rotate(self, token: str, *, context: str) -> str: ...


class LiveKeyring:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._cipher = load_or_create_keyring(self._path)
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple[int, int, int]:
        stat = self._path.stat()
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def current(self) -> FieldCipher:
        stamp = self._read_stamp()
        if stamp != self._stamp:
            with self._lock:
                self._cipher = load_or_create_keyring(self._path)
                self._stamp = stamp
        return self._cipher

    @property
    def active_key_id(self) -> str:
        return self.current().active_key_id

    def encrypt(self, plaintext: str, *, context: str) -> str:
        return self.current().encrypt(plaintext, context=context)

    def decrypt(self, token: str, *, context: str) -> str:
        return self.current().decrypt(token, context=context)

    def needs_rotation(self, token: str) -> bool:
        return self.current().needs_rotation(token)

    def rotate(self, token: str, *, context: str) -> str:
        return self.current().rotate(token, context=context)
