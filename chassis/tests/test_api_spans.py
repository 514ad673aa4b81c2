"""One span per request, the chassis' own: it continues the caller's trace and is named by
the route; FastAPI's own telemetry adds none beside it."""

from __future__ import annotations

import uuid

import httpx
from fastapi import APIRouter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from chassis.api import create_service_app
from chassis.tracing import configure_tracing

from .policies import OPEN, rules_for

RULES = rules_for({"GET /things/{thing_id}": {**OPEN, "auth": "none", "allow": {}, "scope": None}})
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict:  # a sync endpoint: FastAPI would span its thread hop
        return {"id": thing_id}

    return router


async def test_a_request_is_one_server_span_continuing_the_callers_trace():
    spans = InMemorySpanExporter()
    provider = configure_tracing("api-spans-test")
    processors = provider._active_span_processor  # type: ignore[attr-defined]
    before = processors._span_processors
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = create_service_app(
        service=f"api-spans-{uuid.uuid4().hex[:8]}",
        title="spans",
        routers=[_router()],
        access_rules=RULES,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get(
                "/things/7", headers={"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"}
            )
        assert answer.status_code == 200
        recorded = spans.get_finished_spans()
    finally:
        processors._span_processors = before  # the process's provider exports nothing again
    assert [(span.name, span.kind) for span in recorded] == [
        ("GET /things/{thing_id}", SpanKind.SERVER)
    ]
    assert format(recorded[0].context.trace_id, "032x") == CALLER_TRACE
