"""Prometheus metrics shared by every service (labels carry the service name)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter(
    "gov_messages_consumed_total", "Messages taken from Kafka", ["service", "topic"]
)
APPLIED = Counter(
    "gov_messages_applied_total", "Messages whose effects were recorded", ["service", "topic"]
)
SKIPPED = Counter(
    "gov_messages_skipped_total",
    "Redelivered messages dropped because their offset was already tracked",
    ["service", "topic"],
)
DEAD_LETTERS = Counter(
    "gov_dead_letters_total", "Messages sent to the dead-letter topic", ["service", "topic"]
)
PUBLISHED = Counter("gov_events_published_total", "Events relayed to Kafka", ["service"])
BATCH_SECONDS = Histogram(
    "gov_batch_seconds", "Time to record one partition batch", ["service"]
)
OUTBOX_LAG = Gauge(
    "gov_outbox_lag", "Stored events not yet acknowledged by the broker", ["service"]
)
