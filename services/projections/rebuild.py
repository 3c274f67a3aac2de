"""Drop the read model and build it again from the event log (the case topics keep every
event: retention -1), with the same consumer and the same sink code as the live service.

    python -m services.projections rebuild                      # in place: stop the service first
    python -m services.projections rebuild --target projections-next   # beside the live one
    python -m services.projections rebuild --workers 4          # four processes (PostgreSQL)
    python -m services.projections compare projections-next     # equal to the live one?

A rebuild is a batch job: it reads the partitions it was given (no consumer group, so it
never takes partitions from the running service) from the read model's own tracking rows,
which the reset emptied, so from offset 0, up to where the log ended when it began.

Every event is applied exactly as the live service applies it (batch.py, apply.py). Only
the storage around it is faster: batches of 20,000, the count tables written once at the
end rather than by every batch, and, with one worker, the case rows kept in memory until
then (`Resident`). With several workers, each is a process of its own with a share of the
partitions (`Share`), and each batch holds its cases instead.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.projections.aggregates import Deltas
from services.projections.batch import Resident, write_counts
from services.projections.readmodel import HELD_BATCH, CaseReadModel
from shared.events.topics import CASE_TOPICS
from shared.runtime.consumer import BatchConsumer
from shared.runtime.kafka import ensure_topics
from shared.runtime.settings import ServiceSettings

Progress = Callable[[int, int], None]  # (done, total) in messages
# Bigger batches than the live service's: fewer transactions and row loads per event.
# (Bounded: a batch's event ids are looked up in one IN list.)
REBUILD_BATCH = 20_000
# Case rows one worker keeps in memory between batches (Resident): some hundreds of MB.
RESIDENT_ROWS = 100_000


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
def written_at_the_end(model: CaseReadModel, rows: bool = True,
                       limit: int = RESIDENT_ROWS) -> Iterator[None]:
    """The count tables moved once, after the last batch, instead of by every batch: a
    rebuild's batches touch the same few thousand count rows again and again. And, when
    this process writes alone (`rows`), the case rows kept in memory until then (Resident).
    (A rebuild that fails leaves a read model to rebuild again anyway.)"""
    model.pending_counts = Deltas()
    model.resident = Resident(limit) if rows else None
    yield
    write_pending(model)


def write_pending(model: CaseReadModel) -> None:
    deltas = model.pending_counts if model.pending_counts is not None else Deltas()
    with model.engine.begin() as c:
        if model.resident is not None:
            model.resident.spill(c, deltas)
        write_counts(c, deltas)
    model.pending_counts = model.resident = None


@dataclass(frozen=True)
class Rebuilt:
    messages: int
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Share:
    """Worker `index` of `count`: partition p of every case topic where p % count == index.
    Every case topic is keyed by case id over the same number of partitions, so all of a
    case's events reach one worker. A merge changes two cases, which may belong to two
    workers: each batch holds the cases it changes (Batch._lock), as live instances do."""

    index: int = 0
    count: int = 1

    def holds(self, tp: TopicPartition) -> bool:
        return tp.partition % self.count == self.index


Ends = dict[TopicPartition, int]


async def end_offsets(bootstrap: str) -> Ends:
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
                  progress: Progress | None = None, workers: int = 1) -> Rebuilt:
    if workers > 1 and not settings.database_url:
        raise ValueError("more than one rebuild worker needs PostgreSQL: "
                         "SQLite takes one writer at a time")
    model = await asyncio.to_thread(CaseReadModel, settings)
    try:
        await asyncio.to_thread(model.reset)
        await ensure_topics(settings.kafka_bootstrap_servers)
        ends = await end_offsets(settings.kafka_bootstrap_servers)
        started = time.perf_counter()
        if workers == 1:
            model.hold_cases = False  # alone: no case to hold
            await _consume(model, ends, batch_size, progress)
        else:
            await _in_processes(model, ends, min(batch_size, HELD_BATCH), progress, workers)
        seconds = time.perf_counter() - started
        await asyncio.to_thread(model.mark_all_dead_letters_published)
        return Rebuilt(messages=sum(ends.values()), seconds=seconds,
                       events=await asyncio.to_thread(model.event_count))
    finally:
        await asyncio.to_thread(model.close)


async def _consume(model: CaseReadModel, ends: Ends, batch_size: int,
                   progress: Progress | None) -> None:
    """Read these partitions up to their ends into the model, counts written at the end."""
    consumer = BatchConsumer(model, CASE_TOPICS, partitions=list(ends),
                             bootstrap_servers=model.settings.kafka_bootstrap_servers,
                             group_id=None, service=model.settings.service_name,
                             max_records=batch_size)
    await consumer.start()
    try:
        with fewer_collections(), written_at_the_end(model, rows=not model.hold_cases):
            while not await _caught_up(consumer, ends):
                batches = await consumer.consumer.getmany(timeout_ms=200,
                                                          max_records=batch_size)
                await consumer.handle_poll(batches)  # as the live service: a poll at once
                if progress:
                    progress(_done(consumer.positions, ends), sum(ends.values()))
    finally:
        await consumer.stop()


async def _in_processes(model: CaseReadModel, ends: Ends, batch_size: int,
                        progress: Progress | None, workers: int) -> None:
    """This process rebuilds the first share while one process per other share starts and
    rebuilds its own; the progress is read from the tracking rows they all write."""
    shares = [{tp: end for tp, end in ends.items() if Share(i, workers).holds(tp)}
              for i in range(workers)]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn")) as pool:
        others = [loop.run_in_executor(pool, _rebuild_share, model.settings, share, batch_size)
                  for share in shares[1:]]
        watching = asyncio.create_task(_watch(model, ends, progress))
        try:
            await _consume(model, shares[0], batch_size, None)
            await asyncio.gather(*others)  # a worker's failure fails the rebuild
        finally:
            watching.cancel()


async def _watch(model: CaseReadModel, ends: Ends, progress: Progress | None) -> None:
    while progress:
        tracked = await asyncio.to_thread(model.tracked_positions)
        progress(_done(tracked, ends), sum(ends.values()))
        await asyncio.sleep(0.5)


def _rebuild_share(settings: ServiceSettings, ends: Ends, batch_size: int) -> None:
    """One worker process: its own model (connections) over the tables the parent reset."""
    model = CaseReadModel(settings)
    try:
        asyncio.run(_consume(model, ends, batch_size, None))
    finally:
        model.close()


def _done(positions: Mapping[TopicPartition, int], ends: Ends) -> int:
    return sum(min(positions.get(tp, 0), end) for tp, end in ends.items())


async def _caught_up(consumer: BatchConsumer, ends: Ends) -> bool:
    """Every partition read up to where the log ended when the rebuild began."""
    for tp, end in ends.items():
        if end == 0:
            continue
        if tp not in consumer.positions:
            return False
        if await consumer.consumer.position(tp) < end:
            return False
    return True
