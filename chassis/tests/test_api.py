"""The service app factory: ops routes, bounded metrics, correlation ids, clear 422s, and
an OpenAPI document that declares the error bodies the app really sends."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path

import httpx
import jsonschema
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel, Field

from chassis.api import MAX_OFFSET, Offset, create_service_app, error_responses
from chassis.auth import LocalIssuer
from chassis.logs import current_correlation_id

from .policies import OPEN, rules_for

RULES = rules_for(
    {
        "GET /things/{thing_id}": {**OPEN, "auth": "none", "allow": {}, "scope": None},
        "GET /sync-things/{thing_id}": {**OPEN, "auth": "none", "allow": {}, "scope": None},
        "POST /reports": {**OPEN, "auth": "none", "allow": {}, "scope": None, "action": "create"},
        "GET /pages": {**OPEN, "auth": "none", "allow": {}, "scope": None},
        "POST /things/{thing_id}/claim": {**OPEN, "action": "update"},
    }
)
OPS_ONLY = rules_for({})


class Child(BaseModel):
    full_name: str = Field(min_length=1)
    date_of_birth: date | None = None


class Report(BaseModel):
    province_code: str = Field(pattern=r"^\d{2}$")
    child: Child


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        return {"id": thing_id, "correlation_id": current_correlation_id()}

    @router.get("/sync-things/{thing_id}")
    def sync_thing(thing_id: str) -> dict:
        return {"id": thing_id, "correlation_id": current_correlation_id()}

    @router.post("/reports")
    async def report(body: Report) -> dict:
        return {"ok": True}

    @router.get("/pages")
    async def pages(offset: Offset = 0) -> dict:
        return {"offset": offset}

    @router.post("/things/{thing_id}/claim", responses=error_responses({409: "Claimed."}))
    async def claim(thing_id: str) -> dict:
        raise HTTPException(409, "already claimed")

    return router


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def service() -> str:
    # A unique service label keeps each test's samples apart in the process-wide registry.
    return f"api-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(service: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        service=service, title="api test", routers=[_router()], access_rules=RULES
    )
    async with await _client(app) as client:
        yield client


async def test_healthz(client: httpx.AsyncClient):
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_ready_when_every_check_passes():
    async def broker_reachable() -> None:
        return None

    app = create_service_app(
        service="ready-test",
        title="t",
        readiness_checks=[lambda: None, broker_reachable],
        access_rules=OPS_ONLY,
    )
    async with await _client(app) as client:
        response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_readyz_is_503_naming_the_failed_check(kind: str):
    def database_answers() -> None:
        raise ConnectionError("postgres://lienganh:secret@db/cases refused")

    async def broker_answers() -> None:
        raise ConnectionError("kafka down")

    def fine() -> None:
        return None

    checks: Sequence[Callable[[], Awaitable[None] | None]] = [
        fine,
        database_answers if kind == "sync" else broker_answers,
    ]
    app = create_service_app(
        service="ready-test", title="t", readiness_checks=checks, access_rules=OPS_ONLY
    )
    async with await _client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    name = "database_answers" if kind == "sync" else "broker_answers"
    assert [failure["check"].rsplit(".", 1)[-1] for failure in body["failed"]] == [name]
    assert body["failed"][0]["error"] == "ConnectionError"
    assert "secret" not in response.text  # unauthenticated route: no error detail


async def test_metrics_use_the_route_template_never_the_raw_path(
    client: httpx.AsyncClient, service: str
):
    assert (await client.get("/things/123")).status_code == 200
    assert (await client.get("/sync-things/child-7f3e9a")).status_code == 200
    assert (await client.get("/nowhere/secret-9d2c41")).status_code == 404

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        f'lienganh_http_requests_total{{method="GET",route="/things/{{thing_id}}",'
        f'service="{service}",status="200"}} 1.0'
    ) in text
    assert f'route="/sync-things/{{thing_id}}",service="{service}"' in text
    assert f'route="unmatched",service="{service}",status="404"' in text
    assert "lienganh_http_request_duration_seconds_bucket" in text
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert not [route for route in routes if "123" in route]
    assert "/things/123" not in text
    assert "child-7f3e9a" not in text
    assert "secret-9d2c41" not in text


async def test_metrics_is_routed_without_a_redirect(client: httpx.AsyncClient):
    response = await client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200


async def test_ops_routes_need_no_token(client: httpx.AsyncClient):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200


async def test_correlation_id_is_echoed_and_bound_for_the_handler(client: httpx.AsyncClient):
    for path in ("/things/1", "/sync-things/1"):  # async and threadpool endpoints
        response = await client.get(path, headers={"X-Correlation-ID": "hotline-call-42"})
        assert response.headers["x-correlation-id"] == "hotline-call-42"
        assert response.json()["correlation_id"] == "hotline-call-42"


@pytest.mark.parametrize("supplied", [None, "", "x" * 200, "bad id with spaces", "a\tb"])
async def test_unsafe_or_missing_correlation_id_is_replaced(
    client: httpx.AsyncClient, supplied: str | None
):
    headers = {} if supplied is None else {"X-Correlation-ID": supplied}
    response = await client.get("/things/1", headers=headers)
    echoed = response.headers["x-correlation-id"]
    assert echoed != supplied
    assert str(uuid.UUID(echoed)) == echoed
    assert response.json()["correlation_id"] == echoed


async def test_bad_body_is_422_naming_the_field(client: httpx.AsyncClient):
    body = {"province_code": "01", "child": {"full_name": "Nguyễn Văn An", "date_of_birth": "x"}}
    response = await client.post("/reports", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert [error["field"] for error in payload["detail"]] == ["body.child.date_of_birth"]
    assert payload["detail"][0]["message"]
    assert payload["detail"][0]["type"] == "date_from_datetime_parsing"
    assert payload["message"] == "invalid field(s): body.child.date_of_birth"
    assert "Nguyễn" not in response.text  # the rejected input is not echoed back


async def test_every_bad_field_is_named(client: httpx.AsyncClient):
    response = await client.post("/reports", json={"province_code": "1", "child": {}})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["detail"]}
    assert fields == {"body.province_code", "body.child.full_name"}


async def test_malformed_json_is_422(client: httpx.AsyncClient):
    response = await client.post(
        "/reports", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def _app() -> FastAPI:
    return create_service_app(
        service="openapi-test", title="t", routers=[_router()], access_rules=RULES
    )


def _conforms(document: dict, schema_name: str, body: object) -> None:
    """Validate `body` against a schema of the document's components, refs resolved."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", **document}
    jsonschema.Draft202012Validator(schema).validate(body)


async def test_every_422_is_declared_as_the_body_the_app_sends():
    app = _app()
    document = app.openapi()
    declared = document["paths"]["/reports"]["post"]["responses"]["422"]
    assert declared["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationFailed"
    }
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's, which the app never sends
    assert "ValidationError" not in schemas
    async with await _client(app) as client:
        response = await client.post("/reports", json={"province_code": "1", "child": {}})
    assert response.status_code == 422
    _conforms(document, "ValidationFailed", response.json())
    with pytest.raises(jsonschema.ValidationError):  # FastAPI's shape would not pass
        _conforms(document, "ValidationFailed", {"detail": [{"loc": ["body"], "msg": "x"}]})


async def test_declared_error_codes_carry_the_error_message_body(tmp_path: Path):
    app = _app()
    app.state.token_verifier = LocalIssuer(tmp_path / "keys").verifier()
    document = app.openapi()
    claim = document["paths"]["/things/{thing_id}/claim"]["post"]["responses"]
    assert claim["409"]["description"] == "Claimed."
    # The access policy's refusals, declared by `chassis.access`, get the body too.
    for code in ("401", "403", "409"):
        assert claim[code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorMessage"
        }
    async with await _client(app) as client:
        refused = await client.post("/things/1/claim")
    assert refused.status_code == 401
    _conforms(document, "ErrorMessage", refused.json())
    assert app.openapi() == document  # building it twice changes nothing


def test_an_unreadable_body_is_declared_where_there_is_a_body():
    paths = _app().openapi()["paths"]
    assert "400" in paths["/reports"]["post"]["responses"]
    assert "400" not in paths["/pages"]["get"]["responses"]


@pytest.mark.parametrize("offset", [MAX_OFFSET + 1, 2**63, -1])
async def test_an_offset_out_of_bounds_is_422_not_a_database_overflow(offset: int):
    async with await _client(_app()) as client:
        response = await client.get("/pages", params={"offset": offset})
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "query.offset"
        assert (await client.get("/pages", params={"offset": MAX_OFFSET})).status_code == 200
