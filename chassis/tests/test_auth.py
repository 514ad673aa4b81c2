"""Bearer token verification: real keys, real signatures, the attacks that matter."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, FastAPI

from chassis.access import Granted
from chassis.api import create_service_app
from chassis.auth import InvalidToken, LocalIssuer, Principal, TokenVerifier

from .policies import OPEN, rules_for


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path / "keys")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _claims(issuer: LocalIssuer, **overrides: object) -> dict:
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "police-inspector-hn-01",
        "iat": now,
        "exp": now + 600,
        "agency": "police",
        "roles": ["inspector"],
        "provinces": ["01"],
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _sign_with_issuer_key(issuer: LocalIssuer, claims: dict) -> str:
    issuer.public_key_pem()  # make sure the pair exists
    private_pem = (issuer.key_dir / "jwt-private.pem").read_bytes()
    return jwt.encode(claims, private_pem, algorithm="RS256")


def test_minted_token_verifies_to_the_principal(issuer: LocalIssuer):
    token = issuer.mint("hotline-operator-hn-02", "hotline_111", ["intake"], ["01", "79"])
    principal = issuer.verifier().verify(token)
    assert principal == Principal(
        subject="hotline-operator-hn-02",
        agency="hotline_111",
        roles=frozenset({"intake"}),
        provinces=frozenset({"01", "79"}),
    )
    assert principal.has_role("case_worker", "intake")
    assert not principal.has_role("coordinator")
    assert principal.serves_province("79")
    assert not principal.serves_province("48")


def test_national_role_serves_every_province(issuer: LocalIssuer):
    token = issuer.mint("molisa-analyst", "molisa", ["supervisor"], ["*"])
    assert issuer.verifier().verify(token).serves_province("96")


def test_token_header_carries_the_key_fingerprint(issuer: LocalIssuer):
    token = issuer.mint("s", "police", ["inspector"], ["01"])
    header = jwt.get_unverified_header(token)
    public = serialization.load_pem_public_key(issuer.public_key_pem())
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert header["alg"] == "RS256"
    assert hashlib.sha256(der).hexdigest().startswith(header["kid"])


def test_key_files_are_created_once_private_key_0600(issuer: LocalIssuer):
    first = issuer.public_key_pem()
    assert LocalIssuer(issuer.key_dir).public_key_pem() == first
    mode = stat.S_IMODE((issuer.key_dir / "jwt-private.pem").stat().st_mode)
    assert mode == 0o600
    assert (issuer.key_dir / "jwt-public.pem").read_bytes() == first
    assert sorted(p.name for p in issuer.key_dir.iterdir()) == [
        "jwt-private.pem",
        "jwt-public.pem",
    ]


def test_no_key_is_created_until_first_use(tmp_path: Path):
    LocalIssuer(tmp_path / "keys")
    assert not (tmp_path / "keys").exists()


def test_expired_token_is_rejected(issuer: LocalIssuer):
    token = issuer.mint("s", "police", ["inspector"], ["01"], ttl_s=-120)
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verifier().verify(token)


def test_leeway_tolerates_small_clock_skew(issuer: LocalIssuer):
    token = issuer.mint("s", "police", ["inspector"], ["01"], ttl_s=-5)
    assert issuer.verifier().verify(token).subject == "s"


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real_decode = jwt.decode

    def decode(token: str, *args: object, **kwargs: object) -> dict:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", decode)
    return decoded


def test_a_verified_token_is_not_checked_again_until_it_expires(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
):
    clock = _Clock()
    verifier = TokenVerifier(issuer.public_key_pem(), issuer.issuer, issuer.audience, clock=clock)
    token = issuer.mint("s", "police", ["inspector"], ["01"], ttl_s=600)
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    decoded = _counting_decodes(monkeypatch)

    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert decoded == [token]

    clock.now = expires_at  # from its exp on, the full check decides again
    verifier.verify(token)
    assert decoded == [token, token]


def test_a_remembered_token_does_not_vouch_for_another(issuer: LocalIssuer):
    verifier = issuer.verifier()
    token = issuer.mint("s", "police", ["inspector"], ["01"])
    verifier.verify(token)
    header, claims, signature = token.split(".")
    tampered = _unsigned(
        json.loads(base64.urlsafe_b64decode(header + "==")),
        {**json.loads(base64.urlsafe_b64decode(claims + "==")), "roles": ["national_admin"]},
    )
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(f"{tampered}.{signature}")


def test_the_memory_of_verified_tokens_is_bounded(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
):
    verifier = issuer.verifier()
    monkeypatch.setattr(type(verifier._verified), "MAX_ENTRIES", 2)
    tokens = [issuer.mint(f"s{n}", "police", ["inspector"], ["01"]) for n in range(3)]
    for token in tokens:
        verifier.verify(token)
    decoded = _counting_decodes(monkeypatch)
    for token in tokens:
        verifier.verify(token)
    assert decoded[0] == tokens[0]  # the oldest was forgotten, so checked again


def test_wrong_audience_is_rejected(tmp_path: Path):
    other = LocalIssuer(tmp_path / "keys", audience="someone-else")
    token = other.mint("s", "police", ["inspector"], ["01"])
    verifier = TokenVerifier(other.public_key_pem(), issuer=other.issuer, audience="lienganh")
    with pytest.raises(InvalidToken, match="audience"):
        verifier.verify(token)


def test_wrong_issuer_is_rejected(issuer: LocalIssuer):
    token = issuer.mint("s", "police", ["inspector"], ["01"])
    verifier = TokenVerifier(issuer.public_key_pem(), issuer="elsewhere", audience="lienganh")
    with pytest.raises(InvalidToken, match="issuer"):
        verifier.verify(token)


def test_token_from_another_key_is_rejected(issuer: LocalIssuer, tmp_path: Path):
    impostor = LocalIssuer(tmp_path / "impostor")
    token = impostor.mint("s", "police", ["inspector"], ["01"])
    with pytest.raises(InvalidToken, match="signature"):
        issuer.verifier().verify(token)


def test_hs256_signed_with_the_public_key_is_rejected(issuer: LocalIssuer):
    """Algorithm confusion: the public key is public, so it must never work as an HMAC secret."""
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT"}, _claims(issuer))
    mac = hmac.new(issuer.public_key_pem(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm"):
        issuer.verifier().verify(f"{signing_input}.{_b64(mac)}")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_rejected(issuer: LocalIssuer, alg: str):
    token = _unsigned({"alg": alg, "typ": "JWT"}, _claims(issuer)) + "."
    with pytest.raises(InvalidToken):
        issuer.verifier().verify(token)


def test_tampered_claims_are_rejected(issuer: LocalIssuer):
    header, _, signature = issuer.mint("s", "police", ["inspector"], ["01"]).split(".")
    forged = _b64(json.dumps(_claims(issuer, provinces=["*"])).encode())
    with pytest.raises(InvalidToken, match="signature"):
        issuer.verifier().verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"agency": None}, "missing claim agency"),
        ({"sub": None}, "missing claim sub"),
        ({"exp": None}, "missing claim exp"),
        ({"roles": None}, "missing claim roles"),
        ({"provinces": None}, "missing claim provinces"),
        ({"agency": 7}, "agency"),
        ({"agency": ""}, "agency"),
        ({"roles": "inspector"}, "roles must be a list of strings"),
        ({"roles": ["inspector", 3]}, "roles must be a list of strings"),
        ({"provinces": "01"}, "provinces must be a list of strings"),
        ({"provinces": ["1"]}, "province codes"),
        # NumericDate is a number: a string that happens to parse is not one.
        # A year ahead: the value is computed when the module is collected, maybe minutes before.
        ({"exp": str(int(time.time()) + 365 * 86400)}, "exp must be a number"),
        ({"iat": str(int(time.time()))}, "iat must be a number"),
        ({"exp": True}, "exp"),
    ],
)
def test_missing_or_ill_typed_claims_are_rejected(
    issuer: LocalIssuer, overrides: dict, reason: str
):
    token = _sign_with_issuer_key(issuer, _claims(issuer, **overrides))
    with pytest.raises(InvalidToken, match=reason):
        issuer.verifier().verify(token)


@pytest.mark.parametrize("token", ["", "not.a.jwt", "a.b", "x" * 50])
def test_garbage_is_rejected(issuer: LocalIssuer, token: str):
    with pytest.raises(InvalidToken):
        issuer.verifier().verify(token)


def test_es256_tokens_are_accepted(issuer: LocalIssuer):
    key = ec.generate_private_key(ec.SECP256R1())
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode(_claims(issuer), key, algorithm="ES256")
    verifier = TokenVerifier(public_pem, issuer=issuer.issuer, audience=issuer.audience)
    assert verifier.verify(token).agency == "police"
    # …and the RS256 verifier refuses it: the algorithm follows the configured key.
    with pytest.raises(InvalidToken):
        issuer.verifier().verify(token)


def test_two_issuers_racing_on_an_empty_dir_share_one_key_pair(tmp_path: Path):
    key_dir = tmp_path / "keys"
    issuers = [LocalIssuer(key_dir) for _ in range(4)]
    barrier = threading.Barrier(len(issuers))
    errors: list[BaseException] = []

    def start(issuer: LocalIssuer) -> None:
        barrier.wait()
        try:
            issuer.public_key_pem()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(issuer,)) for issuer in issuers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({issuer.public_key_pem() for issuer in issuers}) == 1
    for minter in issuers:
        token = minter.mint("s", "police", ["inspector"], ["01"])
        for checker in issuers:
            assert checker.verifier().verify(token).subject == "s"
    assert sorted(p.name for p in key_dir.iterdir()) == ["jwt-private.pem", "jwt-public.pem"]


# --- FastAPI dependency --------------------------------------------------------------------


def _app(issuer: LocalIssuer | None) -> FastAPI:
    router = APIRouter()

    @router.get("/me")
    async def me(grant: Granted) -> dict:
        return {"subject": grant.officer.subject, "agency": grant.officer.agency}

    @router.get("/coordination")
    async def coordination(grant: Granted) -> dict:
        return {"subject": grant.officer.subject}

    rules = rules_for(
        {
            "GET /me": OPEN,
            "GET /coordination": {**OPEN, "allow": {"*": ["coordinator", "supervisor"]}},
        }
    )
    app = create_service_app(
        service="auth-test", title="auth test", routers=[router], access_rules=rules
    )
    if issuer is not None:
        app.state.token_verifier = issuer.verifier()
    return app


@pytest.fixture
async def client(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_401_with_a_bearer_challenge(client: httpx.AsyncClient):
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_non_bearer_scheme_is_401(client: httpx.AsyncClient):
    response = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_bad_token_is_401_saying_why(client: httpx.AsyncClient, issuer: LocalIssuer):
    response = await client.get("/me", headers=_bearer("not.a.jwt"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')

    expired = issuer.mint("s", "police", ["inspector"], ["01"], ttl_s=-120)
    response = await client.get("/me", headers=_bearer(expired))
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"


async def test_good_token_is_200(client: httpx.AsyncClient, issuer: LocalIssuer):
    token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
    response = await client.get("/me", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"subject": "police-inspector-hn-01", "agency": "police"}


async def test_the_policy_refuses_other_roles(client: httpx.AsyncClient, issuer: LocalIssuer):
    inspector = issuer.mint("s", "police", ["inspector"], ["01"])
    response = await client.get("/coordination", headers=_bearer(inspector))
    assert response.status_code == 403
    assert response.json()["detail"] == "your agency or role may not read this thing"

    supervisor = issuer.mint("boss", "molisa", ["supervisor"], ["*"])
    response = await client.get("/coordination", headers=_bearer(supervisor))
    assert response.status_code == 200
    assert response.json() == {"subject": "boss"}
    assert (await client.get("/coordination")).status_code == 401


async def test_missing_verifier_fails_closed():
    transport = httpx.ASGITransport(app=_app(None), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/me", headers=_bearer("anything"))
    assert response.status_code == 500
