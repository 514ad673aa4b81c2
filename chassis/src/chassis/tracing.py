"""W3C trace context through every hop: HTTP in, outbox, Kafka, consumer, HTTP out.

One trace follows a piece of work across services. The API continues the caller's
`traceparent` (or starts a trace) for each request; every event staged in the outbox stores
the `traceparent` of the span that staged it, and travels as the CloudEvents
distributed-tracing extension (`ce_traceparent` on Kafka); the consumer continues that trace
for the handler, so the events the handler stages carry the same trace id; outgoing httpx
calls send `traceparent` (OpenTelemetry's httpx instrumentation). Logs carry `trace_id` and
`span_id` (`chassis.logs`).

Nothing leaves the process unless `OTEL_TRACES_EXPORTER` says so: `none` (the default),
`console` (spans as JSON on stdout) or `otlp` (needs `opentelemetry-exporter-otlp-proto-http`
installed and reads the standard `OTEL_EXPORTER_OTLP_*` variables). While no span processor
listens, a span is only its ids (a non-recording span, still a child of its parent and
carrying its sampling flag), so trace context propagates at a third of a recorded span's cost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

__all__ = [
    "EXPORTER_ENV",
    "TRACEPARENT",
    "configure_tracing",
    "current_ids",
    "current_traceparent",
    "ensure_span",
    "span",
]

TRACEPARENT = "traceparent"
EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
_W3C = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: TracerProvider | None = None


def configure_tracing(service: str, exporter: str | None = None) -> TracerProvider:
    """Install the process's tracer provider once (later calls return it unchanged).

    `exporter` (default: `$OTEL_TRACES_EXPORTER`, else `none`) is a comma-separated list
    of `none`, `console`, `otlp`. Also instruments httpx (when it is imported), so every
    outgoing call made by `httpx` sends `traceparent`.
    """
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        existing = trace.get_tracer_provider()
        if isinstance(existing, TracerProvider):  # someone (a test, a distro) set one up
            provider = existing
        else:
            provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
            choice = exporter if exporter is not None else os.environ.get(EXPORTER_ENV, "none")
            for name in (part.strip().lower() for part in choice.split(",")):
                if name and name != "none":
                    provider.add_span_processor(_processor(name))
            trace.set_tracer_provider(provider)
        _instrument_httpx(provider)
        _provider = provider
        return provider


def _processor(name: str) -> SpanProcessor:
    if name == "console":
        return BatchSpanProcessor(ConsoleSpanExporter())
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError as error:
            raise RuntimeError(
                f"{EXPORTER_ENV}=otlp needs the opentelemetry-exporter-otlp-proto-http package"
            ) from error
        return BatchSpanProcessor(OTLPSpanExporter())
    raise ValueError(f"{EXPORTER_ENV}: unknown exporter {name!r} (none, console or otlp)")


def _instrument_httpx(provider: TracerProvider) -> None:
    """Instrument httpx once something imports it (at once if something has): a process
    that never calls out (most workers, the APIs) then never loads httpx, ~4 MiB."""
    import wrapt

    wrapt.register_post_import_hook(lambda _httpx: _instrument_now(provider), "httpx")


def _instrument_now(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def _tracer() -> trace.Tracer:
    # Processes built by `chassis` configure tracing with their service name (API factory,
    # event processor); anything else (a CLI, a test) gets the same setup on first use.
    provider = _provider or configure_tracing(os.environ.get("OTEL_SERVICE_NAME", "lienganh"))
    return _tracer_of(provider)


@cache
def _tracer_of(provider: TracerProvider) -> trace.Tracer:
    # `get_tracer` builds a new tracer at each call: a span per event made it a hot spot.
    return provider.get_tracer("chassis")


@contextmanager
def span(
    name: str,
    *,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    """A span, current for the `with` block: a child of `traceparent` when one is given (an
    incoming header, a consumed record's), else of the current span, else a new trace."""
    context = _W3C.extract({TRACEPARENT: traceparent}) if traceparent else None
    tracer = _tracer()
    if _provider is not None and not _listened_to(_provider):
        with trace.use_span(_ids_only(_provider, context), end_on_exit=False) as ids:
            yield ids
        return
    with tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes
    ) as current:
        yield current


def _listened_to(provider: TracerProvider) -> bool:
    """Whether a finished span reaches any processor (an exporter, a test's collector). The
    SDK keeps them in a private tuple; were it to move, spans are recorded as before."""
    processors = getattr(
        getattr(provider, "_active_span_processor", None), "_span_processors", None
    )
    return processors is None or bool(processors)


def _ids_only(provider: TracerProvider, context: Context | None) -> NonRecordingSpan:
    """A span nobody records: under its parent's trace and sampling flag (the SDK's default
    sampler follows the parent), or a new sampled trace without one. A recorded span costs
    ~45 µs (timing, attributes, a lock), one per event and request; this ~13 µs."""
    parent = trace.get_current_span(context).get_span_context()
    ids = provider.id_generator
    if parent.is_valid:
        return NonRecordingSpan(
            SpanContext(
                parent.trace_id,
                ids.generate_span_id(),
                is_remote=False,
                trace_flags=parent.trace_flags,
                trace_state=parent.trace_state,
            )
        )
    return NonRecordingSpan(
        SpanContext(
            ids.generate_trace_id(),
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )


@contextmanager
def ensure_span(name: str) -> Iterator[None]:
    """Keep the current span if there is one, else open `name` as the root of a new trace
    (a CLI command, a scheduled job): work is always inside some trace."""
    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with span(name):
        yield


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None outside any span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as lowercase hex, or None outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
