"""Replay and rebuild rates, on the event log the e2e run left behind.

- replay: the projections read model rebuilt from offset 0 of the four case topics by
  `python -m services.projections rebuild`'s own code (rebuild.py: the real sink under the
  real `BatchConsumer`) into a scratch schema: one worker with the service's default batch
  size and with a larger one, then two worker processes;
- the ceilings beside it: the same log only read from Kafka, and read + parsed;
- rebuild: dispatch's own event store, its notification log read and mapped back to
  domain events (what rebuilding any service's state starts with).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stack import KAFKA_ENV, BenchInfra
from services.projections import rebuild
from shared.events import parse_event
from shared.events.topics import CASE_TOPICS, PARTITIONS
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import ServiceApplication

# (worker processes, messages per poll): the service's poll size, then larger ones.
REBUILDS = ((1, 500), (1, 5000), (2, 5000))


def run(infra: BenchInfra) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    read, parsed, total = asyncio.run(_read_log(infra.bootstrap))
    figures.update(replay_log_events=total, replay_kafka_read_events_per_s=read,
                   replay_parse_events_per_s=parsed)
    rates = {_key(w, b): _rebuild_read_model(infra, w, b) for w, b in REBUILDS}
    figures.update(rates, replay_events_per_s=max(rates.values()))
    figures["rebuild_store_events_per_s"] = _rebuild_store(infra)
    figures["kafka_bytes_per_event"] = round(_log_bytes() / max(total, 1))
    return figures


def _key(workers: int, batch: int) -> str:
    return f"replay_events_per_s_batch_{batch}" + (f"_workers_{workers}" if workers > 1
                                                   else "")


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


def _rebuild_read_model(infra: BenchInfra, workers: int, batch: int) -> float:
    name = f"bench_replay_{workers}_{batch}"
    settings = ServiceSettings(service_name=name, database_url=infra.database_url,
                               kafka_bootstrap_servers=infra.bootstrap)
    return round(asyncio.run(rebuild.rebuild(settings, batch, workers=workers)).rate, 1)


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
