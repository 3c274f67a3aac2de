"""Replay and rebuild rates, on the event log the e2e run left behind.

- replay: the projections read model rebuilt from offset 0 of the four case topics by the
  real sink (`CaseReadModel`) under the real `BatchConsumer`, into a scratch schema, with
  the service's default batch size and with a larger one;
- the ceilings beside it: the same log only read from Kafka, and read + parsed;
- rebuild: dispatch's own event store, its notification log read and mapped back to
  domain events (what rebuilding any service's state starts with).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stack import KAFKA_ENV, BenchInfra
from services.projections import rebuild
from services.projections.aggregates import Deltas
from services.projections.readmodel import CaseReadModel
from shared.events import parse_event
from shared.events.topics import CASE_TOPICS, PARTITIONS
from shared.runtime.consumer import BatchConsumer
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import ServiceApplication

BATCHES = (500, 5000)


def run(infra: BenchInfra) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    read, parsed, total = asyncio.run(_read_log(infra.bootstrap))
    figures.update(replay_log_events=total, replay_kafka_read_events_per_s=read,
                   replay_parse_events_per_s=parsed)
    for batch in BATCHES:
        figures[f"replay_events_per_s_batch_{batch}"] = asyncio.run(
            _rebuild_read_model(infra, batch, total))
    figures["replay_events_per_s"] = max(figures[f"replay_events_per_s_batch_{b}"]
                                         for b in BATCHES)
    figures["rebuild_store_events_per_s"] = _rebuild_store(infra)
    figures["kafka_bytes_per_event"] = round(_log_bytes() / max(total, 1))
    return figures


def _log_bytes() -> int:
    """Bytes of the case topics' segment files on the bench broker's disk."""
    data = Path(KAFKA_ENV["KAFKA_STATE_DIR"]) / "data"
    return sum(f.stat().st_size for t in CASE_TOPICS for f in data.glob(f"{t}-*/*.log"))


def _partitions() -> list[TopicPartition]:
    """The case topics, as `ensure_topics` creates them."""
    return [TopicPartition(t, p) for t in CASE_TOPICS for p in range(PARTITIONS)]


async def _read_log(bootstrap: str) -> tuple[float, float, int]:
    """The whole log read from offset 0: once to warm up, then bytes only, then parsed."""
    rates = []
    total = 0
    for parse in (False, False, True):
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    isolation_level="read_committed", max_poll_records=5000)
        await consumer.start()
        try:
            tps = _partitions()
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            total = sum(end.values())  # retention is forever: offsets start at 0
            for tp, first in (await consumer.beginning_offsets(tps)).items():
                consumer.seek(tp, first)  # explicit: seek_to_beginning's lazy reset stalled
            began, count = time.perf_counter(), 0
            while count < total:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batches.values():
                    count += len(records)
                    if parse:
                        for r in records:
                            parse_event(r.value)
            rates.append(round(total / (time.perf_counter() - began), 1))
        finally:
            await consumer.stop()
    return rates[1], rates[2], total


async def _rebuild_read_model(infra: BenchInfra, batch: int, total: int) -> float:
    """As `python -m services.projections rebuild` builds: its parser, and the count
    tables written once after the last batch (inside the timed span)."""
    name = f"bench_replay_{batch}"
    settings = ServiceSettings(service_name=name, database_url=infra.database_url,
                               kafka_bootstrap_servers=infra.bootstrap,
                               consumer_group=f"{name}-{uuid.uuid4().hex[:8]}")
    model = await asyncio.to_thread(CaseReadModel, settings)
    consumer = BatchConsumer(model, CASE_TOPICS, bootstrap_servers=infra.bootstrap,
                             group_id=settings.group_id, service=name, max_records=batch)
    model.pending_counts = Deltas()
    await consumer.start()
    try:
        task = asyncio.create_task(consumer.run())
        while not consumer.positions:  # joined the group and sought to tracked positions
            await asyncio.sleep(0.005)
        began = time.perf_counter()
        while sum(consumer.positions.values()) < total:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.to_thread(rebuild.write_pending_counts, model)
        elapsed = time.perf_counter() - began
    finally:
        await consumer.stop()
        model.close()
    return round(total / elapsed, 1)


def _rebuild_store(infra: BenchInfra) -> float:
    # Only the store is read: the service's own application class (and its wiring) is not
    # needed to map stored events back to domain events.
    reader = type("DispatchStore", (ServiceApplication,), {"name": "dispatch"})
    app = reader(ServiceSettings(service_name="dispatch", database_url=infra.database_url))
    try:
        began, count, start = time.perf_counter(), 0, 1
        while True:
            section = app.recorder.select_notifications(start, 1000)
            if not section:
                break
            for n in section:
                app.mapper.to_domain_event(n)
            count += len(section)
            start = section[-1].id + 1
        return round(count / max(time.perf_counter() - began, 1e-6), 1)
    finally:
        app.close()
