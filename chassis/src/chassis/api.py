"""The FastAPI factory every service uses: ops routes, request metrics, correlation ids,
a span per request (continuing the caller's W3C `traceparent`, see `chassis.tracing`), 422
errors that name the offending field, and an OpenAPI document that says so.

Errors have two shapes, declared here once: `ValidationFailed` (422: each bad field named,
its value not echoed) and `ErrorMessage` (`{"detail": "..."}`: refusals, not found,
conflicts, unavailable). Every error response of every operation in the app's OpenAPI
document references one of them; a route declares the codes only it can answer with
`responses=error_responses({409: "why"})` next to its decorator.

Every route goes through the access policy (`chassis.access`): ops routes (/healthz, /readyz,
/metrics) are declared public there and reveal nothing about cases; the app refuses to be
built when a route has no rule.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis.access import Refused, audit_refusal, authorize, enforce
from chassis.logs import bind_event_context, get_logger
from chassis.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chassis.tracing import TRACEPARENT, configure_tracing, span
from contracts.access.policy import ServiceRules

__all__ = [
    "CORRELATION_HEADER",
    "MAX_OFFSET",
    "ErrorMessage",
    "FieldError",
    "IsoDate",
    "IsoDateTime",
    "Offset",
    "ReadinessCheck",
    "ValidationFailed",
    "create_service_app",
    "error_responses",
]

CORRELATION_HEADER = "X-Correlation-ID"
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Any token is a valid HTTP method; map the unknown ones to one label value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
READINESS_TIMEOUT_S = 5.0
UNMATCHED = "unmatched"
# Only short, plain tokens are trusted from callers: the id ends up in logs and events.
_SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

ReadinessCheck = Callable[[], Awaitable[None] | None]

# Deep enough for any list a person pages through, and far below what SQLite and
# PostgreSQL take as an OFFSET (a signed 64-bit integer): beyond it is a 422, never a 500.
MAX_OFFSET = 1_000_000
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip (0 to {MAX_OFFSET:,}).")
]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _written_as(pattern: re.Pattern[str], form: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        # Pydantic would also read a number as Unix time: "0" would be 1970-01-01.
        if isinstance(value, date) or (isinstance(value, str) and pattern.match(value)):
            return value
        raise ValueError(f"must be written {form}")

    return check


IsoDate = Annotated[date, BeforeValidator(_written_as(_ISO_DATE, "YYYY-MM-DD"))]
"""A day as the OpenAPI document declares it (`format: date`), never a number."""
IsoDateTime = Annotated[
    datetime, BeforeValidator(_written_as(_ISO_DATETIME, "YYYY-MM-DDTHH:MM[:SS][+HH:MM]"))
]
"""A moment as declared (`format: date-time`), never a number."""

log = get_logger(__name__)


class FieldError(BaseModel):
    """One invalid input of a request."""

    field: str = Field(description="Where: `body.child.full_name`, `query.offset`, ….")
    message: str = Field(description="What is wrong with it (the value is not echoed).")
    type: str = Field(description="Machine-readable kind, e.g. `missing`, `value_error`.")


class ValidationFailed(BaseModel):
    """422: the request's input is invalid; every bad field is named."""

    detail: list[FieldError] = Field(description="Each invalid field.")
    message: str = Field(description="One line naming the invalid fields.")


class ErrorMessage(BaseModel):
    """Every other error: a refusal, not found, a conflict, an unavailable dependency."""

    detail: str = Field(description="What went wrong, for a person to read.")


def error_responses(codes: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: the error codes it answers, each with why (`ErrorMessage`)."""
    return {code: {"model": ErrorMessage, "description": why} for code, why in codes.items()}


def invalid(
    *fields: str, message: str, kind: str = "value_error", where: str = "body"
) -> RequestValidationError:
    """A 422 the route found itself (a rule across fields, a value the domain refuses), in
    the same shape as the validator's: each field named by its dotted path under `where`
    (no field: `where` itself, e.g. a body that is not JSON)."""
    return RequestValidationError(
        [
            {"loc": tuple(p for p in (where, *field.split(".")) if p), "msg": message, "type": kind}
            for field in fields or ("",)
        ]
    )


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
        title=title,
        version=version,
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
        telemetry=_OWN_TELEMETRY_ONLY,
    )
    app.state.service = service
    configure_tracing(service)  # once per process; later calls keep the first setup
    app.add_middleware(RequestContextMiddleware, service=service)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Refused, audit_refusal)
    app.include_router(_ops_router(readiness_checks))
    for router in routers:
        app.include_router(router)
    enforce(app, access_rules)
    _document_errors(app)
    return app


# The request's span, metrics and log line are `RequestContextMiddleware`'s. FastAPI's own
# telemetry would add a second server span to every request, a span for each dependency,
# the endpoint and the serialization, and send exception messages (a child's name, in a
# validation error) to OpenTelemetry's logs, past `chassis.logs`' redaction. Off, the cases
# API spends a tenth less CPU a `POST /cases` (docs/benchmarks.md).
_OWN_TELEMETRY_ONLY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
_VALIDATION_FAILED = "Invalid input: each bad field is named."
_UNPARSABLE_BODY = "The body could not be read (e.g. not UTF-8)."


def _document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document describe the error bodies as the app sends them:
    every 4xx/5xx response references `ErrorMessage`, every 422 `ValidationFailed` (not
    FastAPI's `HTTPValidationError`, which this app never sends), and every operation with
    a body declares the 400 FastAPI answers when it cannot read one."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorMessage, ValidationFailed):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(found.pop("$defs", {}))
            schemas[model.__name__] = found
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                _declare_errors(operation)
        # FastAPI's own 422 models, once nothing refers to them any more.
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(document["paths"]):
                schemas.pop(unused, None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if "requestBody" in operation:
        responses.setdefault("400", {"description": _UNPARSABLE_BODY})
    for code, response in responses.items():
        if code == "422":  # replaces FastAPI's `HTTPValidationError`
            response["description"] = _VALIDATION_FAILED
            response["content"] = _json("ValidationFailed")
        elif code[0] in "45":
            response.setdefault("content", _json("ErrorMessage"))


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


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
        with (
            span(
                f"{method} {UNMATCHED}",
                traceparent=_header(scope, TRACEPARENT.encode()),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method},
            ) as request_span,
            bind_event_context(None, correlation_id),
        ):
            try:
                await self.app(scope, receive, send_with_header)
            finally:
                elapsed = time.perf_counter() - started
                route = _route_template(scope)
                request_span.update_name(f"{method} {route}")
                request_span.set_attribute("http.route", route)
                request_span.set_attribute("http.response.status_code", status_code)
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
    body = ValidationFailed.model_validate(
        {"detail": detail, "message": f"invalid field(s): {fields}"}
    )
    return JSONResponse(body.model_dump(), status_code=422)
