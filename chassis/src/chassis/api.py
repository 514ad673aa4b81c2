"""The FastAPI factory every service uses: ops routes, request metrics, correlation ids, and
422 errors that name the offending field.

Every route goes through the access policy (`chassis.access`): ops routes (/healthz, /readyz,
/metrics) are declared public there and reveal nothing about cases; the app refuses to be
built when a route has no rule.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis.access import Refused, audit_refusal, authorize, enforce
from chassis.logs import bind_event_context, get_logger
from chassis.metrics import HTTP_LATENCY, HTTP_REQUESTS
from contracts.access.policy import ServiceRules

__all__ = ["CORRELATION_HEADER", "ReadinessCheck", "create_service_app"]

CORRELATION_HEADER = "X-Correlation-ID"
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Any token is a valid HTTP method; map the unknown ones to one label value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
READINESS_TIMEOUT_S = 5.0
UNMATCHED = "unmatched"
# Only short, plain tokens are trusted from callers: the id ends up in logs and events.
_SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

ReadinessCheck = Callable[[], Awaitable[None] | None]

log = get_logger(__name__)


def create_service_app(
    *,
    service: str,
    title: str,
    version: str = "0.1.0",
    routers: Sequence[APIRouter] = (),
    access_rules: ServiceRules,
    lifespan: Any = None,
    readiness_checks: Sequence[ReadinessCheck] = (),
) -> FastAPI:
    # One dependency of every route: the access policy, before anything else of the route.
    app = FastAPI(
        title=title, version=version, lifespan=lifespan, dependencies=[Depends(authorize)]
    )
    app.state.service = service
    app.add_middleware(RequestContextMiddleware, service=service)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Refused, audit_refusal)
    app.include_router(_ops_router(readiness_checks))
    for router in routers:
        app.include_router(router)
    enforce(app, access_rules)
    return app


def _ops_router(checks: Sequence[ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        failed = []
        for check in checks:
            name = _check_name(check)
            try:
                await asyncio.wait_for(_run_check(check), READINESS_TIMEOUT_S)
            except Exception as error:
                # Unauthenticated route: name the check and error type, log the detail.
                log.warning("readiness check failed", check=name, exc_info=True)
                failed.append({"check": name, "error": type(error).__name__})
        if failed:
            return JSONResponse({"status": "not ready", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        # Sync on purpose: custom collectors may query the database at scrape time.
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run_check(check: ReadinessCheck) -> None:
    if inspect.iscoroutinefunction(check):
        await check()
        return
    # Sync checks (a DB `select 1`) block; keep them off the event loop.
    result = await run_in_threadpool(check)
    if inspect.isawaitable(result):
        await result


def _check_name(check: ReadinessCheck) -> str:
    name = getattr(check, "__qualname__", None) or getattr(check, "__name__", None)
    return str(name or type(check).__name__)


def _route_template(scope: Scope) -> str:
    """The matched route's template: bounded metric labels, no ids in logs."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED


class RequestContextMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware) so context variables reach the endpoint intact."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        supplied = _header(scope, b"x-correlation-id")
        correlation_id = (
            supplied if supplied and _SAFE_CORRELATION_ID.match(supplied) else str(uuid.uuid4())
        )
        status_code = 500  # if the app raises before responding

        async def send_with_header(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        started = time.perf_counter()
        with bind_event_context(None, correlation_id):
            try:
                await self.app(scope, receive, send_with_header)
            finally:
                elapsed = time.perf_counter() - started
                route = _route_template(scope)
                HTTP_REQUESTS.labels(self.service, method, route, str(status_code)).inc()
                HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)
                if route not in OPS_PATHS:
                    log.info(
                        "http request",
                        method=method,
                        route=route,
                        status=status_code,
                        duration_ms=round(elapsed * 1000, 1),
                    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """422 naming each bad field by its dotted location; the rejected input is not echoed
    back, since it may be a child's identity."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {
            "field": ".".join(str(part) for part in item.get("loc", ())),
            "message": str(item.get("msg", "")),
            "type": str(item.get("type", "")),
        }
        for item in error.errors()
    ]
    fields = ", ".join(dict.fromkeys(item["field"] for item in detail))
    return JSONResponse(
        {"detail": detail, "message": f"invalid field(s): {fields}"}, status_code=422
    )
