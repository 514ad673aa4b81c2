"""Delivery metrics (interface F): channel and outcome only, never a person or a case."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "lienganh_notification_deliveries_total",
    "Notification delivery attempts by channel and outcome (delivered, retried, failed).",
    ["channel", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "lienganh_notification_delivery_seconds",
    "Time from the notification being recorded to its delivery, by channel.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
