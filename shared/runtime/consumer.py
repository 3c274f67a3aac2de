"""The batch consumer: Kafka -> policy -> events + tracking in one transaction.

Kafka delivers at least once. Exactly-once effects come from the sink: each poll is
recorded together with a tracking row per partition (topic:partition -> next offset). On
assignment the consumer seeks to the sink's own tracked position; Kafka's committed
offset is only a hint for lag monitoring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from eventsourcing.persistence import IntegrityError
from sqlalchemy.exc import IntegrityError as RowConflict

from shared.events import ContractError, parse_event
from shared.runtime.metrics import APPLIED, BATCH_SECONDS, CONSUMED, SKIPPED
from shared.runtime.resilience import retrying
from shared.runtime.store import Inbound

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 20
# Kafka's committed offsets are only a hint (lag monitoring, KEDA): sent once a second for
# every partition that moved, not after each batch (a round trip and a broker write each).
HINT_EVERY_S = 1.0


class Sink(Protocol):
    """Where a consumer records effects: a service application or a read model. A whole
    poll, every partition's batch with its own tracking row, in one transaction: under a
    light load a poll brings a message or two from each of many partitions, and a
    transaction each was most of what a consumer spent."""

    def tracked_position(self, topic: str, partition: int) -> int: ...
    def process_partitions(self, batches: Sequence[Sequence[Inbound]]) -> list[bool]: ...


# A topic whose messages are not integration events (e.g. a channel's intake topic) has
# its own parser; it raises ContractError, without the message's values, on bad input.
Parser = Callable[[bytes | None], Any]


def to_inbound(record: ConsumerRecord[bytes, bytes],
               parsers: Mapping[str, Parser] | None = None) -> Inbound:
    """Parse at the edge: a message that does not fit its contract becomes a dead letter."""
    parse = (parsers or {}).get(record.topic, parse_event)
    try:
        event = parse(record.value)
    except ContractError as exc:
        headers = dict(record.headers or ())
        event_type = headers.get("event_type", b"").decode(errors="replace") or None
        return Inbound(record.topic, record.partition, record.offset, None, str(exc), event_type)
    return Inbound(record.topic, record.partition, record.offset, event)


class _SeekToTracked(ConsumerRebalanceListener):
    def __init__(self, consumer: BatchConsumer) -> None:
        self.owner = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.owner.positions.pop(tp, None)
            self.owner.hints.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.owner.seek_to_tracked(assigned)


class BatchConsumer:
    def __init__(
        self,
        sink: Sink,
        topics: Sequence[str],
        *,
        bootstrap_servers: str,
        group_id: str | None,
        service: str,
        max_records: int = 500,
        poll_ms: int = 100,
        parsers: Mapping[str, Parser] | None = None,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
        partitions: Sequence[TopicPartition] = (),
    ) -> None:
        self.sink = sink
        # Given: these partitions, assigned by the caller (a batch job's share of them);
        # else the topics' partitions as the consumer group hands them out.
        self.assigned = tuple(partitions)
        self.parsers = dict(parsers or {})
        self.topics = tuple(topics)
        self.service = service
        self.max_records = max_records
        self.poll_ms = poll_ms
        self.positions: dict[TopicPartition, int] = {}
        self.hints: dict[TopicPartition, int] = {}  # moved since the last commit
        self.hinted = time.monotonic()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=f"{service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=max_records,
            fetch_min_bytes=fetch_min_bytes,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

    async def start(self) -> None:
        await self.consumer.start()
        if self.assigned:
            self.consumer.assign(list(self.assigned))
            await self.seek_to_tracked(self.assigned)
        else:
            self.consumer.subscribe(self.topics, listener=_SeekToTracked(self))

    async def stop(self) -> None:
        await self.consumer.stop()

    async def seek_to_tracked(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            position = await asyncio.to_thread(self.sink.tracked_position, tp.topic, tp.partition)
            self.positions[tp] = position
            self.consumer.seek(tp, position)
        log.info("assigned", extra={"positions": {str(k): v for k, v in self.positions.items()}})

    async def run(self) -> None:
        while True:
            batches = await self.consumer.getmany(
                timeout_ms=self.poll_ms, max_records=self.max_records
            )
            await self.handle_poll(batches)
            if self.hints and time.monotonic() - self.hinted >= HINT_EVERY_S:
                await self._commit_hints()

    async def handle_poll(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        """Every partition's batch of one poll, recorded together (`Sink`)."""
        fresh = {tp: m for tp, records in batches.items() if (m := self._fresh(tp, records))}
        if not fresh:
            return
        started = time.perf_counter()
        recorded = await retrying(lambda: self._record(list(fresh.values())), "record poll")
        BATCH_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        for (tp, messages), ok in zip(fresh.items(), recorded, strict=True):
            self._moved(tp, messages, ok)

    def _fresh(self, tp: TopicPartition,
               records: list[ConsumerRecord[bytes, bytes]]) -> list[Inbound]:
        """The records past the tracked position, parsed; none if the partition was revoked
        while they were in flight."""
        if tp not in self.positions:
            return []
        CONSUMED.labels(self.service, tp.topic).inc(len(records))
        fresh = [r for r in records if r.offset >= self.positions[tp]]
        SKIPPED.labels(self.service, tp.topic).inc(len(records) - len(fresh))
        return [to_inbound(r, self.parsers) for r in fresh]

    def _moved(self, tp: TopicPartition, messages: list[Inbound], recorded: bool) -> None:
        if recorded:
            APPLIED.labels(self.service, tp.topic).inc(len(messages))
        next_offset = messages[-1].offset + 1
        self.positions[tp] = next_offset
        self.hints[tp] = next_offset

    async def _record(self, batches: list[list[Inbound]]) -> list[bool]:
        """Record a poll; on a concurrent write to one of its aggregates (or, in a read
        model, to one of its rows: another instance inserted the same new case from another
        topic's partition), retry it against what is stored now."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                return await asyncio.to_thread(self.sink.process_partitions, batches)
            except (IntegrityError, RowConflict):
                log.info("write conflict, retrying batch", extra={"attempt": attempt})
                await asyncio.sleep(0.01 * (attempt + 1))
        raise RuntimeError("batch kept conflicting with concurrent writers")

    async def _commit_hints(self) -> None:
        hints, self.hints, self.hinted = self.hints, {}, time.monotonic()
        try:
            await self.consumer.commit(hints)
        except KafkaError as exc:  # only a hint: our tracking rows are the truth
            log.info("offset commit skipped", extra={"error": type(exc).__name__})
