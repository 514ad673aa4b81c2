"""W3C trace context: spans continue a `traceparent`, logs name their trace, outgoing httpx
calls send one, and nothing is exported unless asked."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chassis import tracing
from chassis.logs import configure_logging, get_logger

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
INCOMING = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_a_span_continues_the_given_traceparent_and_is_current_inside():
    assert tracing.current_traceparent() is None
    with tracing.span("work", traceparent=INCOMING):
        ids = tracing.current_ids()
        assert ids is not None and ids[0] == TRACE_ID
        current = tracing.current_traceparent()
        assert current is not None and current.split("-")[1] == TRACE_ID
        assert current.split("-")[2] == ids[1] != "b7ad6b7169203331"  # a child span
    assert tracing.current_ids() is None


def test_while_nothing_listens_a_span_is_only_its_ids_and_keeps_the_sampling_flag():
    tracing.configure_tracing("tests")  # no exporter in the test environment
    with tracing.span("work", traceparent=INCOMING) as current:
        assert not current.is_recording()
        assert tracing.current_traceparent().endswith("-01")  # type: ignore[union-attr]
    with tracing.span("work", traceparent=f"00-{TRACE_ID}-b7ad6b7169203331-00") as current:
        context = current.get_span_context()
        assert format(context.trace_id, "032x") == TRACE_ID and not context.trace_flags.sampled
        with tracing.span("inner") as inner:  # a child keeps the trace and the decision
            assert inner.get_span_context().trace_id == context.trace_id
            assert inner.get_span_context().span_id != context.span_id
            assert not inner.get_span_context().trace_flags.sampled
    with tracing.span("a trace of its own") as current:
        assert current.get_span_context().trace_flags.sampled


def test_a_span_is_recorded_once_a_processor_listens():
    spans = InMemorySpanExporter()
    provider = tracing.configure_tracing("tests")
    processors = provider._active_span_processor  # type: ignore[attr-defined]
    before = processors._span_processors
    provider.add_span_processor(SimpleSpanProcessor(spans))
    try:
        with tracing.span("work", traceparent=INCOMING) as current:
            assert current.is_recording()
    finally:
        processors._span_processors = before  # the process's provider exports nothing again
    [recorded] = spans.get_finished_spans()
    assert recorded.name == "work" and format(recorded.context.trace_id, "032x") == TRACE_ID


def test_a_malformed_traceparent_starts_a_new_trace():
    with tracing.span("work", traceparent="00-not-a-trace-01"):
        ids = tracing.current_ids()
        assert ids is not None and ids[0] != TRACE_ID


def test_ensure_span_keeps_the_current_trace_or_starts_one():
    with tracing.span("outer", traceparent=INCOMING), tracing.ensure_span("inner"):
        assert tracing.current_ids() is not None
        assert tracing.current_ids()[0] == TRACE_ID  # type: ignore[index]
    with tracing.ensure_span("a command"):
        assert tracing.current_ids() is not None


def test_log_lines_carry_the_trace_and_span_ids(capsys: pytest.CaptureFixture[str]):
    configure_logging("cases", "INFO")
    with tracing.span("work", traceparent=INCOMING):
        span_id = tracing.current_ids()[1]  # type: ignore[index]
        get_logger("tests").info("structlog line")
        logging.getLogger("tests").info("stdlib line")
    get_logger("tests").info("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    inside, outside = lines[:2], lines[2]
    assert [(line["trace_id"], line["span_id"]) for line in inside] == [(TRACE_ID, span_id)] * 2
    assert "trace_id" not in outside


class _Echo(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self) -> None:
        _Echo.seen.append(self.headers.get("traceparent"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Echo.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_outgoing_httpx_calls_send_the_current_traceparent(echo_url: str):
    tracing.configure_tracing("tests")
    with tracing.span("handling an event", traceparent=INCOMING):
        httpx.get(echo_url)
        with httpx.Client() as client:
            client.get(echo_url)
    httpx.get(echo_url)  # outside any span: a trace of its own, still sent
    assert all(_Echo.seen) and len(_Echo.seen) == 3
    traces = [value.split("-")[1] for value in _Echo.seen if value]
    assert traces[:2] == [TRACE_ID] * 2
    assert traces[2] != TRACE_ID


async def test_outgoing_async_httpx_calls_send_the_current_traceparent(echo_url: str):
    tracing.configure_tracing("tests")
    with tracing.span("handling an event", traceparent=INCOMING):
        async with httpx.AsyncClient() as client:
            await client.get(echo_url)
    assert [value.split("-")[1] for value in _Echo.seen if value] == [TRACE_ID]


def test_httpx_is_instrumented_when_first_imported_not_before(echo_url: str):
    """A process that never calls out does not load httpx for the instrumentation."""
    code = f"""
import sys
from chassis import tracing
tracing.configure_tracing("probe")
assert "httpx" not in sys.modules
import httpx
with tracing.span("handling an event", traceparent="{INCOMING}"):
    httpx.get("{echo_url}")
"""
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    assert [value.split("-")[1] for value in _Echo.seen] == [TRACE_ID]


def test_nothing_is_exported_unless_asked():
    provider = tracing.configure_tracing("tests")
    # No exporter configured in the test environment: spans stay in the process.
    assert provider._active_span_processor._span_processors == ()  # type: ignore[attr-defined]
    assert isinstance(tracing._processor("console"), BatchSpanProcessor)
    with pytest.raises(ValueError, match="unknown exporter"):
        tracing._processor("jaeger")
