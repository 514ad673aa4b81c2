"""The access policy on every route: rules required at start, roles and scopes enforced by one
dependency, every refusal audited (after the route's own transaction), refusals documented."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlmodel import Session, select

from chassis.access import Granted, RoutesAndRulesDiffer
from chassis.api import create_service_app
from chassis.auth import LocalIssuer
from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import unit_of_work

from .policies import OPEN, rules_for

PROVINCES = {**OPEN, "scope": "provinces"}
RULES = {
    "GET /things/{thing_id}": {**PROVINCES, "allow": {"police": ["inspector"]}},
    "POST /things": {**OPEN, "action": "create", "scope": "named_province"},
    "GET /national": OPEN,
    "GET /public": {"auth": "none", "resource": "thing", "action": "read"},
}
THINGS = {"t-01": "01", "t-79": "79"}


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    def thing(thing_id: str, grant: Granted) -> dict:
        engine = grant_engine[0]
        with unit_of_work(engine, source="/test"):  # a refusal inside an open transaction
            grant.require_province(THINGS.get(thing_id), resource_id=thing_id, what="thing")
        return {"id": thing_id}

    @router.post("/things")
    def create(province_code: str, grant: Granted) -> dict:
        grant.require_province(province_code, resource_id="new")
        return {"province_code": province_code}

    @router.get("/national")
    def national(grant: Granted) -> dict:
        return {"all": grant.visible_provinces() is None}

    @router.get("/public")
    def public(grant: Granted) -> dict:
        return {"officer": grant.principal is not None}

    return router


grant_engine: list = []


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'access.db'}")
    create_tables(engine, [OutboxEvent])
    grant_engine[:] = [engine]
    app = create_service_app(
        service="access-test", title="t", routers=[_router()], access_rules=rules_for(RULES)
    )
    app.state.engine = engine
    app.state.token_verifier = LocalIssuer(tmp_path / "keys").verifier()
    app.state.issuer = LocalIssuer(tmp_path / "keys")
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def token(app: FastAPI, agency: str, role: str, *provinces: str) -> dict[str, str]:
    minted = app.state.issuer.mint(f"{agency}-{role}", agency, [role], list(provinces))
    return {"Authorization": f"Bearer {minted}"}


def denials(app: FastAPI) -> list[tuple[str, str, str]]:
    with Session(app.state.engine) as session:
        rows = session.exec(select(OutboxEvent).where(OutboxEvent.event_type.contains("audit")))
        events = [json.loads(row.value) for row in rows]
    return [(e["actor"], e["resource_id"], e["detail"]) for e in events if e["outcome"] == "denied"]


def test_a_route_without_a_rule_refuses_to_start():
    rules = dict(RULES)
    del rules["GET /national"]
    with pytest.raises(RoutesAndRulesDiffer, match="GET /national has no rule"):
        create_service_app(
            service="t", title="t", routers=[_router()], access_rules=rules_for(rules)
        )


def test_a_rule_without_a_route_refuses_to_start():
    rules = {**RULES, "DELETE /things/{thing_id}": OPEN}
    with pytest.raises(RoutesAndRulesDiffer, match="rules without a route"):
        create_service_app(
            service="t", title="t", routers=[_router()], access_rules=rules_for(rules)
        )


async def test_agency_role_and_province_come_from_the_rule(client: httpx.AsyncClient, app):
    assert (await client.get("/things/t-01")).status_code == 401
    police = token(app, "police", "inspector", "01")
    assert (await client.get("/things/t-01", headers=police)).status_code == 200
    assert (await client.get("/things/t-79", headers=police)).status_code == 404
    assert (await client.get("/things/nope", headers=police)).status_code == 404
    national = token(app, "police", "inspector", "*")
    assert (await client.get("/things/t-79", headers=national)).status_code == 200
    viewer = token(app, "police", "viewer", "01")
    assert (await client.get("/things/t-01", headers=viewer)).status_code == 403
    dolisa = token(app, "dolisa", "inspector", "01")
    answer = await client.get("/things/t-01", headers=dolisa)
    assert answer.status_code == 403
    assert answer.json()["detail"] == "your agency or role may not read this thing"


async def test_every_refusal_is_audited_even_from_inside_a_transaction(
    client: httpx.AsyncClient, app
):
    police = token(app, "police", "inspector", "01")
    assert (await client.get("/things/t-79", headers=police)).status_code == 404
    assert (
        await client.get("/things/t-01", headers=token(app, "dolisa", "inspector", "01"))
    ).status_code == 403
    assert denials(app) == [
        ("police-inspector", "t-79", "GET /things/{thing_id}: not found in the caller's provinces"),
        ("dolisa-inspector", "t-01", "GET /things/{thing_id}: agency or role not allowed"),
    ]


async def test_a_named_province_outside_the_callers_is_403(client: httpx.AsyncClient, app):
    police = token(app, "police", "inspector", "01")
    assert (await client.post("/things?province_code=01", headers=police)).status_code == 200
    refused = await client.post("/things?province_code=79", headers=police)
    assert refused.status_code == 403 and "province_code" in refused.json()["detail"]


async def test_national_and_public_routes(client: httpx.AsyncClient, app):
    police = token(app, "police", "inspector", "01")
    assert (await client.get("/national", headers=police)).json() == {"all": True}
    assert (await client.get("/public")).json() == {"officer": False}


async def test_the_openapi_document_lists_each_routes_refusals(client: httpx.AsyncClient):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"401", "403", "404"} <= set(paths["/things/{thing_id}"]["get"]["responses"])
    assert {"401", "403"} <= set(paths["/national"]["get"]["responses"])
    assert "404" not in paths["/national"]["get"]["responses"]
    assert "401" not in paths["/public"]["get"]["responses"]
