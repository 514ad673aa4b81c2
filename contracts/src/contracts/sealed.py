"""Sealed values as contracts see them: opaque tokens with a fixed shape, never plaintext.

`sv1.<…>` is sealed under one case's data key (or a key derived from it), `pk1.<key>.<…>`
to a public key. The chassis does the cryptography (`chassis.sealing`); a contract only
says that a field must hold a token, so a producer that puts identity in clear is refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Patterns, not secrets (the S105 check reads "TOKEN" as a password).
_DATA_KEY = r"sv1\.[A-Za-z0-9_-]{40,}"
_PUBLIC_KEY = r"pk1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{40,}"
SEALED_TOKEN_PATTERN = f"^({_DATA_KEY}|{_PUBLIC_KEY})$"
DATA_KEY_TOKEN_PATTERN = f"^{_DATA_KEY}$"
PUBLIC_KEY_TOKEN_PATTERN = f"^{_PUBLIC_KEY}$"

SealedToken = Annotated[
    str,
    Field(
        pattern=SEALED_TOKEN_PATTERN,
        max_length=65536,
        description="A sealed value (AES-256-GCM or HPKE, padded); never plaintext.",
    ),
]
DataKeyToken = Annotated[
    str,
    Field(
        pattern=DATA_KEY_TOKEN_PATTERN,
        max_length=65536,
        description="A value sealed under a key derived from the case's data key.",
    ),
]
PublicKeyToken = Annotated[
    str,
    Field(
        pattern=PUBLIC_KEY_TOKEN_PATTERN,
        max_length=65536,
        description="A value sealed to a public key (HPKE X25519/HKDF-SHA256/AES-256-GCM).",
    ),
]
