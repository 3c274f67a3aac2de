"""Runs last in the end-to-end session: after everything above has flowed, no mobile
number or resident ID appears unmasked in any Kafka payload or any service log line."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from govctl.processes import Stack
from tests.pii_patterns import find_personal_data

pytestmark = pytest.mark.e2e


async def all_topic_payloads(bootstrap: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"pii-{uuid.uuid4()}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)  # waits for topic metadata
    await consumer.start()
    await producer.start()
    try:
        # The platform's own topics. gov.channel.* carry what outside systems (the 12345
        # hotline, the police) send in; their free text is theirs, and intake redacts it.
        topics = [t for t in await consumer.topics()
                  if t.startswith("gov.") and not t.startswith("gov.channel.")]
        partitions = [TopicPartition(t, p) for t in topics
                      for p in await producer.partitions_for(t)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        payloads: list[bytes] = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            payloads += [m.value or b"" for ms in batch.values() for m in ms]
        return payloads
    finally:
        await producer.stop()
        await consumer.stop()


async def test_no_unmasked_personal_data_on_the_bus_or_in_logs(stack: Stack, kafka: str) -> None:
    payloads = await all_topic_payloads(kafka)
    assert payloads, "the session produced no messages to scan"
    leaks = [hit for p in payloads for hit in find_personal_data(p.decode(errors="replace"))]
    assert leaks == [], f"{len(leaks)} personal data hits on Kafka"  # never print them
    for log in Path(stack.log_dir).glob("*.log"):
        hits = find_personal_data(log.read_text(errors="replace"))
        assert hits == [], f"personal data in {log.name}"
