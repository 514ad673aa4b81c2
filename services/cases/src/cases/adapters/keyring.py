"""The service keyring as running processes see it: reloaded when the file changes.

It wraps each case's data key. A key rotation (`python -m cases rotate-keys`) adds a key to
the file and re-wraps the data keys while the API and worker keep serving; they must unwrap
keys wrapped under the new key at once, and wrap new ones under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chassis.crypto import FieldCipher, load_or_create_keyring
from chassis.keypairs import Reloading


class Cipher(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, token: str, *, context: str) -> str: ...
    def needs_rotation(self, token: str) -> bool: ...
    def rotate(self, token: str, *, context: str) -> str: ...


class LiveKeyring:
    def __init__(self, path: Path) -> None:
        load_or_create_keyring(path)  # the first local run creates it
        self._file = Reloading(Path(path), load_or_create_keyring)

    def current(self) -> FieldCipher:
        return self._file.current()

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
