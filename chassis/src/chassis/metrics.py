"""Prometheus metrics every service shares. Labels are bounded: never a case or a person."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "lienganh_http_requests_total",
    "HTTP requests handled, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "lienganh_http_request_duration_seconds",
    "HTTP request latency, by route template.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_CONSUMED = Counter(
    "lienganh_events_consumed_total",
    "Events read from Kafka, by outcome: processed, duplicate, ignored or dead_lettered.",
    ["service", "topic", "type", "outcome"],
)
EVENTS_PRODUCED = Counter(
    "lienganh_events_produced_total",
    "Events published to Kafka by the outbox relay.",
    ["service", "topic", "type"],
)
DEAD_LETTERS = Counter(
    "lienganh_dead_letters_total",
    "Records sent to a dead-letter topic, by source topic and reason.",
    ["service", "topic", "reason"],
)
OUTBOX_BACKLOG = Gauge(
    "lienganh_outbox_backlog",
    "Events written to the outbox and not yet published.",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "lienganh_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox event of the urgent and normal lanes (0 when none): "
    "imports wait in the bulk lane by design.",
    ["service"],
)
OUTBOX_BULK_WAITING = Gauge(
    "lienganh_outbox_bulk_waiting",
    "Bulk-lane (imported) outbox events waiting for the pipeline to drain (chassis.pacing).",
    ["service"],
)
EVENT_PROCESSING_SECONDS = Histogram(
    "lienganh_event_processing_seconds",
    "Time to process one consumed event, effect and commit included.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PIPELINE_BACKLOG = Gauge(
    "lienganh_pipeline_backlog",
    "Records the consumer groups on an urgent case's path have yet to consume, as the bulk "
    "lane's relay last measured it: imports wait in the outbox while it holds more than "
    "CASES_BULK_AHEAD_S of work at the drain rate.",
    ["service"],
)
PIPELINE_DRAIN = Gauge(
    "lienganh_pipeline_drain_rate",
    "Records a second the consumer groups on an urgent case's path commit, over the last "
    "few seconds, as the bulk lane's relay last measured it: how much backlog it lets stand.",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "lienganh_consumer_lag",
    "Records of a subscribed topic not yet committed by this worker's consumer group "
    "(log end offset minus committed offset, summed over the assigned partitions).",
    ["service", "topic"],
)


# A process that serves its service's API and runs its worker (`python -m <service> all`) has
# one registry behind two /metrics endpoints, and a Prometheus scrapes both ports (the same
# configuration as for two processes). The API's endpoint exposes everything; the worker's
# then exposes nothing, so nothing is counted twice.
_worker_beside_api = False
ON_THE_API = b"# In this process every metric is on its API's /metrics.\n"


def expose_on_the_api_only() -> None:
    global _worker_beside_api
    _worker_beside_api = True


def worker_exposition() -> bytes:
    """What the worker's /metrics answers: every metric, or none beside an API."""
    return ON_THE_API if _worker_beside_api else generate_latest()
