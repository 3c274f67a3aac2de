"""Drop the read model and build it again from the event log (the case topics keep every
event: retention -1), with the same consumer and the same sink code as the live service.

    python -m services.projections rebuild                      # in place: stop the service first
    python -m services.projections rebuild --target projections-next   # beside the live one
    python -m services.projections compare projections-next     # equal to the live one?

A rebuild reads with a consumer group of its own, so it never takes partitions from the
running service; positions come from the read model's own tracking rows, which the reset
emptied, so it starts at offset 0.

Every event is applied exactly as the live service applies it (batch.py, apply.py). Only
the storage around it is faster: batches of 20,000, and the count tables written once at
the end rather than by every batch.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.projections.aggregates import Deltas
from services.projections.batch import write_counts
from services.projections.readmodel import CaseReadModel
from shared.events.topics import CASE_TOPICS
from shared.runtime.consumer import BatchConsumer
from shared.runtime.kafka import ensure_topics
from shared.runtime.settings import ServiceSettings

Progress = Callable[[int, int], None]  # (done, total) in messages
# Bigger batches than the live service's: fewer transactions and row loads per event.
# (Bounded: a batch's event ids are looked up in one IN list.)
REBUILD_BATCH = 20_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """A rebuild allocates millions of short-lived events that form no cycles: at the
    collector's default pace (a collection every 700 allocations, the older generations
    scanned again and again) collecting cost more than parsing them."""
    threshold = gc.get_threshold()
    gc.freeze()  # what exists before the rebuild is never garbage it made
    gc.set_threshold(50_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@contextmanager
def counts_at_the_end(model: CaseReadModel) -> Iterator[None]:
    """The count tables moved once, after the last batch, instead of by every batch: a
    rebuild's batches touch the same few thousand count rows again and again. (A rebuild
    that fails leaves a read model to rebuild again anyway.)"""
    model.pending_counts = Deltas()
    yield
    write_pending_counts(model)


def write_pending_counts(model: CaseReadModel) -> None:
    if model.pending_counts is not None:
        with model.engine.begin() as c:
            write_counts(c, model.pending_counts)
        model.pending_counts = None


@dataclass(frozen=True)
class Rebuilt:
    messages: int
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    """Where the log ends now: the rebuild is complete when it has read this far."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(CASE_TOPICS))
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described
           for p in d["partitions"]]
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             enable_auto_commit=False)
    await probe.start()
    try:
        return dict(await probe.end_offsets(tps))
    finally:
        await probe.stop()


async def rebuild(settings: ServiceSettings, batch_size: int = REBUILD_BATCH,
                  progress: Progress | None = None) -> Rebuilt:
    model = await asyncio.to_thread(CaseReadModel, settings)
    try:
        await asyncio.to_thread(model.reset)
        return await _consume(model, settings, batch_size, progress)
    finally:
        await asyncio.to_thread(model.close)


async def _consume(model: CaseReadModel, settings: ServiceSettings, batch_size: int,
                   progress: Progress | None) -> Rebuilt:
    bootstrap = settings.kafka_bootstrap_servers
    await ensure_topics(bootstrap)
    ends = await end_offsets(bootstrap)
    total = sum(ends.values())
    consumer = BatchConsumer(model, CASE_TOPICS, bootstrap_servers=bootstrap,
                             group_id=f"{settings.group_id}-rebuild-{uuid.uuid4().hex[:8]}",
                             service=settings.service_name, max_records=batch_size)
    started = time.perf_counter()
    model.pending_counts = Deltas()
    await consumer.start()
    try:
        with fewer_collections():
            while not await _caught_up(consumer, ends):
                batches = await consumer.consumer.getmany(timeout_ms=200,
                                                          max_records=batch_size)
                await consumer.handle_poll(batches)  # as the live service: a poll at once
                if progress:
                    progress(_done(consumer, ends), total)
    finally:
        await consumer.stop()
    await asyncio.to_thread(write_pending_counts, model)
    seconds = time.perf_counter() - started
    await asyncio.to_thread(model.mark_all_dead_letters_published)
    return Rebuilt(messages=total, events=await asyncio.to_thread(model.event_count),
                   seconds=seconds)


def _done(consumer: BatchConsumer, ends: dict[TopicPartition, int]) -> int:
    return sum(min(consumer.positions.get(tp, 0), end) for tp, end in ends.items())


async def _caught_up(consumer: BatchConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Every partition read up to where the log ended when the rebuild began."""
    assigned = consumer.consumer.assignment()
    for tp, end in ends.items():
        if end == 0:
            continue
        if tp not in assigned or tp not in consumer.positions:
            return False
        if await consumer.consumer.position(tp) < end:
            return False
    return True
