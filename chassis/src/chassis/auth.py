"""OAuth2 bearer tokens: JWTs signed by an identity provider, verified with its public key.

Tests, local runs and production all go through `TokenVerifier`; only the key source differs
(`LocalIssuer` for development, the identity provider's published key in deployment). There is
deliberately no switch that turns verification off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = [
    "BearerToken",
    "CurrentPrincipal",
    "InvalidToken",
    "LocalIssuer",
    "Principal",
    "TokenVerifier",
    "bearer_scheme",
    "current_principal",
    "verified_principal",
]

ALL_PROVINCES = "*"
# Asymmetric only: "none" and HS* would let anyone holding the public key mint tokens.
ALLOWED_ALGORITHMS = ("RS256", "ES256")
_PROVINCE = re.compile(r"^\d{2}$")
_PRIVATE_KEY_FILE = "jwt-private.pem"
_PUBLIC_KEY_FILE = "jwt-public.pem"


class InvalidToken(Exception):
    """The bearer token cannot be trusted; the message says why (safe to return to clients)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person at an agency, with roles, serving some provinces."""

    subject: str
    agency: str
    roles: frozenset[str]
    provinces: frozenset[str]  # 2-digit province codes, or "*" for national roles

    def has_role(self, *roles: str) -> bool:
        """True when the principal holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)

    def serves_province(self, code: str) -> bool:
        return ALL_PROVINCES in self.provinces or code in self.provinces


class TokenVerifier:
    """Verifies signature, expiry, issuer and audience, then the claims a `Principal` needs."""

    def __init__(
        self,
        public_key_pem: bytes,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        # Pin the algorithm to the key type, so a token cannot choose how it is checked.
        self._key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
        if isinstance(key, rsa.RSAPublicKey):
            self._key, self._algorithms = key, ["RS256"]
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            self._key, self._algorithms = key, ["ES256"]
        else:
            raise ValueError("JWT public key must be RSA (RS256) or EC P-256 (ES256)")
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self._verified = _VerifiedTokens(clock)

    def verify(self, token: str) -> Principal:
        """The token's principal; a token already verified is trusted until its `exp`."""
        principal = self._verified.get(token)
        if principal is None:
            principal, expires_at = self._check(token)
            self._verified.put(token, principal, expires_at)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("token expired") from error
        except jwt.ImmatureSignatureError as error:
            raise InvalidToken("token not yet valid") from error
        except jwt.InvalidAudienceError as error:
            raise InvalidToken("wrong audience") from error
        except jwt.InvalidIssuerError as error:
            raise InvalidToken("wrong issuer") from error
        except jwt.InvalidAlgorithmError as error:
            raise InvalidToken("signing algorithm not allowed") from error
        except jwt.InvalidSignatureError as error:
            raise InvalidToken("bad signature") from error
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"missing claim {error.claim}") from error
        except jwt.DecodeError as error:
            raise InvalidToken("malformed token") from error
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"invalid token: {error}") from error
        return _principal(claims), claims["exp"]


class _VerifiedTokens:
    """Tokens whose signature and claims were checked, until their `exp` (not `exp` plus
    leeway: past it, the full check decides again). The same officer's token comes with
    every request, and its RSA check and claim parsing were a twentieth of an API's CPU.

    Keyed by the token's SHA-256, so the memory holds no bearer token; bounded, the oldest
    entry going first. A lock, as routes verify from the event loop and from threads."""

    MAX_ENTRIES = 4096

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(_digest(token))
        if entry is None or self._clock() >= entry[1]:
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
            self._entries[_digest(token)] = (principal, expires_at)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _principal(claims: dict[str, Any]) -> Principal:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        # NumericDate (RFC 7519): a number, never a string that happens to parse as one.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidToken(f"claim {name} must be a number (NumericDate)")
    subject = claims.get("sub")
    agency = claims.get("agency")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("claim sub must be a non-empty string")
    if agency is None:
        raise InvalidToken("missing claim agency")
    if not isinstance(agency, str) or not agency:
        raise InvalidToken("claim agency must be a non-empty string")
    roles = _string_list(claims, "roles")
    provinces = _string_list(claims, "provinces")
    bad = [p for p in provinces if p != ALL_PROVINCES and not _PROVINCE.match(p)]
    if bad:
        raise InvalidToken("claim provinces must hold 2-digit province codes or '*'")
    return Principal(subject, agency, frozenset(roles), frozenset(provinces))


def _string_list(claims: dict[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if value is None:
        raise InvalidToken(f"missing claim {name}")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidToken(f"claim {name} must be a list of strings")
    return value


class LocalIssuer:
    """Development and test token issuer: an RSA key pair in `key_dir`, created on first use.

    Services only ever see `jwt-public.pem`; they verify exactly as they would in production.
    """

    def __init__(
        self, key_dir: Path, issuer: str = "lienganh-local", audience: str = "lienganh"
    ) -> None:
        self.key_dir = Path(key_dir)
        self.issuer = issuer
        self.audience = audience
        self._lock = threading.Lock()
        self._private_key: rsa.RSAPrivateKey | None = None
        self._public_pem = b""
        self._kid = ""

    def public_key_pem(self) -> bytes:
        self._load()
        return self._public_pem

    def mint(
        self,
        subject: str,
        agency: str,
        roles: Iterable[str],
        provinces: Iterable[str],
        ttl_s: int = 3600,
    ) -> str:
        private_key = self._load()
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_s,
            "agency": agency,
            "roles": sorted(roles),
            "provinces": sorted(provinces),
        }
        return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": self._kid})

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.public_key_pem(), issuer=self.issuer, audience=self.audience)

    def _load(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._private_key is None:
                private_key = _load_or_create_private_key(self.key_dir / _PRIVATE_KEY_FILE)
                public_pem = private_key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                _ensure_public_key(self.key_dir / _PUBLIC_KEY_FILE, public_pem)
                self._kid = _fingerprint(private_key)
                self._public_pem = public_pem
                self._private_key = private_key
            return self._private_key


def _load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Whoever links first wins; the loser reads the winner's key, so every process
        # started together signs and verifies with the same pair.
        _write_new_file(path, pem, replace=False)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def _ensure_public_key(path: Path, public_pem: bytes) -> None:
    """The public key is derived from the private one, which is the source of truth."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == public_pem:
            return
    # Same content whichever process writes it, so replacing is safe.
    _write_new_file(path, public_pem, replace=True, mode=0o644)


def _write_new_file(path: Path, content: bytes, *, replace: bool, mode: int = 0o600) -> None:
    """Never expose a half-written file: write a temp file, then link or rename it in place."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        if replace:
            os.replace(temp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)  # atomic, and fails rather than overwrite
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _fingerprint(private_key: rsa.RSAPrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


# --- FastAPI integration ------------------------------------------------------------------

bearer_scheme = HTTPBearer(auto_error=False)


def _unauthorized(reason: str, *, invalid: bool) -> HTTPException:
    challenge = "Bearer"  # RFC 6750: no error code when no credentials were sent
    if invalid:
        description = reason.replace('"', "'")
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": challenge}
    )


async def current_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Principal:
    """The verified caller; 401 when the bearer token is missing or cannot be trusted."""
    return verified_principal(request, credentials)


def verified_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        # Fail closed: a composition root that forgot the verifier must not serve anyone.
        raise RuntimeError("app.state.token_verifier is not set")
    if credentials is None:
        raise _unauthorized("missing bearer token", invalid=False)
    try:
        return verifier.verify(credentials.credentials)
    except InvalidToken as error:
        raise _unauthorized(error.message, invalid=True) from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def bearer_token(
    principal: CurrentPrincipal,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> str:
    """The verified caller's own token, to relay to another service on their behalf (so
    that service checks the same officer, not a service account that may do anything)."""
    assert credentials is not None  # current_principal refused a request without one
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]
