"""Structured logs: one JSON object per line on stderr, from structlog and stdlib alike.

Every line carries `timestamp` (ISO, UTC), `level`, `logger`, `service`, `event`, the current
span's `trace_id` and `span_id` (W3C, see `chassis.tracing`) and whatever the current context
bound (event id, correlation id, event type), so a case can be followed from intake to
notification across services. Identity fields are redacted as defence in depth:
code should not log them in the first place.

structlog's loggers (`get_logger`) render their lines themselves; the standard library's
(ours and every library's) go through a `ProcessorFormatter` with the same processors. The
first path is the cheap one, ~19 against ~46 µs a line: a stdlib line is a `LogRecord`, made
twice (the formatter copies it), so lines written for every event or request use it.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from chassis.tracing import current_ids

__all__ = [
    "HeldLines",
    "add_trace_ids",
    "bind_event_context",
    "configure_logging",
    "current_correlation_id",
    "get_logger",
    "redact",
]

REDACTED = "[redacted]"
IDENTITY_KEYS = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "child_name",
        "date_of_birth",
        "dob",
        "birth_date",
        "address",
        "home_address",
        "phone",
        "phone_number",
        "email",
    }
)
IDENTITY_PREFIXES = ("guardian",)
_MAX_DEPTH = 6
# These log full request URLs at INFO; query strings could carry identity.
_URL_LOGGERS = ("httpx", "httpcore")

_correlation_id: ContextVar[str | None] = ContextVar("lienganh_correlation_id", default=None)
_service = "unknown"

# Until `configure_logging`, structlog drops lines below WARNING, as the stdlib does: a consumer
# run in-process (a test, a benchmark) does not print a line an event.
if not structlog.is_configured():
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def current_correlation_id() -> str | None:
    """The correlation id of the request or event being handled, to stamp on new events."""
    return _correlation_id.get()


@contextmanager
def bind_event_context(
    event_id: str | None, correlation_id: str | None, event_type: str | None = None
) -> Iterator[None]:
    """Bind ids into the log context (and `current_correlation_id`) for the `with` block."""
    values = {"event_id": event_id, "correlation_id": correlation_id, "event_type": event_type}
    token = _correlation_id.set(correlation_id)
    try:
        with structlog.contextvars.bound_contextvars(
            **{key: value for key, value in values.items() if value is not None}
        ):
            yield
    finally:
        _correlation_id.reset(token)


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace identity-looking values, nested ones included."""
    _redact(event_dict, 0)
    return event_dict


def _is_identity_key(key: object) -> bool:
    return isinstance(key, str) and _is_identity_name(key)


@functools.lru_cache(maxsize=4096)  # a line's keys are mostly the same few names
def _is_identity_name(key: str) -> bool:
    lowered = key.lower()
    return lowered in IDENTITY_KEYS or lowered.startswith(IDENTITY_PREFIXES)


# Values that cannot hold others: skipped before the (slow, ABC) mapping check and without
# a call, as a line's values are nearly all strings and numbers.
_LEAVES = (str, int, float, bytes, type(None))


def _redact(value: object, depth: int) -> None:
    if depth > _MAX_DEPTH or isinstance(value, _LEAVES):
        return
    if isinstance(value, MutableMapping):
        for key in list(value):
            if key != "event" and _is_identity_key(key):
                value[key] = REDACTED
            elif not isinstance(inner := value[key], _LEAVES):
                _redact(inner, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _redact(item, depth + 1)


def add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the current span's ids, to find a line's trace (and back)."""
    ids = current_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


def _add_service(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", _service)
    return event_dict


class _StderrLines:
    """structlog's output: each rendered line to the current `sys.stderr`, as
    `_StderrHandler` writes the stdlib's (one write a line, so lines never interleave)."""

    def __init__(self, name: str = "") -> None:
        self.name = name  # what `add_logger_name` reads

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    debug = info = warning = error = critical = msg


class HeldLines:
    """Lines rendered when they are logged, in the context they describe, and written to
    stderr later, together: a consumer's "event applied" lines, once its batch's
    transaction has committed (one write a batch, and no line for work rolled back)."""

    def __init__(self, name: str) -> None:
        self.name = name  # what `add_logger_name` reads
        self._lines: list[str] = []

    def msg(self, message: str) -> None:
        self._lines.append(message + "\n")

    debug = info = warning = error = critical = msg

    def logger(self) -> FilteringBoundLogger:
        """A logger with the configured processors and level whose lines are held here."""
        held: FilteringBoundLogger = structlog.wrap_logger(self).bind()
        return held

    def write(self) -> None:
        if self._lines:
            stream = sys.stderr
            stream.write("".join(self._lines))
            stream.flush()
            self._lines.clear()


class _StderrHandler(logging.StreamHandler):
    """Looks up `sys.stderr` on every write, so redirection (and test capture) still works."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to JSON lines on stderr. Safe to call again."""
    global _service
    _service = service
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    rendering: list[Processor] = [
        _add_service,
        redact,  # last before rendering, so nothing added earlier escapes it
        # Plain text tracebacks: rich/dict tracebacks would render local variables.
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )
    # No line shows where it was logged from, so no stack walk to find out (the logging
    # HOWTO's "Optimization"): ~10 µs of a line's ~55, and a worker writes one an event.
    logging._srcfile = None
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *rendering],
        logger_factory=_StderrLines,
        wrapper_class=structlog.make_filtering_bound_logger(root.level),
        # Not cached: a logger used before configuration must not keep the default setup.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> FilteringBoundLogger:
    """A structlog logger: `.info("sent %s", what, key=value)`, rendered as a JSON line."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger
