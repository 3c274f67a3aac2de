"""Kafka plumbing: topics and the idempotent producer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.topics import ALL_TOPICS, PARTITIONS

log = logging.getLogger(__name__)

# The case topics are the audit trail and the source of every rebuild: kept forever.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


async def ensure_topics(bootstrap_servers: str, topics: tuple[str, ...] = ALL_TOPICS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [NewTopic(t, PARTITIONS, 1, topic_configs=TOPIC_CONFIG) for t in missing]
        with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
            await admin.create_topics(new)
        log.info("topics created", extra={"topics": missing})
    finally:
        await admin.close()


def idempotent_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """Idempotence keeps one partition's order through retries; it implies acks=all."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        compression_type=None,
        max_batch_size=256 * 1024,
    )


async def consumer_lag(bootstrap_servers: str, groups: Iterable[str]) -> int:
    """Messages the consumer groups have not yet recorded, by their committed offsets (the
    services' hints, written within a second of each recorded batch)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await admin.start()
    await probe.start()
    try:
        lag = 0
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            ends = await probe.end_offsets(list(committed))
            lag += sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items())
        return lag
    finally:
        await probe.stop()
        await admin.close()
