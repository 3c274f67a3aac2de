"""Scale-out: one consumer group of a service with 1 and then 3 instances, draining the same
backlog (6 partitions). Figures: messages/s of the group, the growth ratio, and each
instance's share. Only that service runs, so the figure is the group's own.

- dispatch: a backlog of dedup's events (captured from a run of dedup alone, then sent
  again onto a clean topic once the group runs). Its work is per case, so instances
  share it;
- dedup: a backlog of CaseReported. Every instance folds every report into its own
  duplicate index (a report must be compared with cases from all partitions), so the
  index's upkeep is repeated by each instance and does not spread.

(The behaviour, exactly once with each instance taking part, is
tests/e2e/test_scaleout.py.)
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stack import BenchInfra, Message, applied, produce, produce_reports
from shared.events.topics import DEDUP, INTAKE, PARTITIONS

CASES = int(os.environ.get("BENCH_SCALEOUT_CASES", "3000"))
SETTLE_SECONDS = 5.0  # after the last instance is ready: the group's rebalance completes

TRACKED = """
SELECT coalesce(sum(position), 0) FROM (
    SELECT max(notification_id) AS position FROM {schema}.{schema}_tracking
    WHERE application_name LIKE %s GROUP BY application_name) AS partitions
"""


@dataclass(frozen=True)
class Group:
    service: str
    topic: str  # what the backlog is on
    upstream: str | None  # the service that makes the backlog from reports, if not intake


GROUPS = (Group("dispatch", DEDUP, "dedup"), Group("dedup", INTAKE, None))


def run(ctx: Any) -> dict[str, Any]:
    infra: BenchInfra = ctx.infra()
    figures: dict[str, Any] = {}
    for group in GROUPS:
        name = f"scaleout_{group.service}"
        for instances in (1, 3):
            rate, shares = drain(infra, group, instances, CASES)
            figures[f"{name}_{instances}_instances_messages_per_s"] = rate
            figures[f"{name}_{instances}_instances_shares"] = shares
        one = figures[f"{name}_1_instances_messages_per_s"]
        three = figures[f"{name}_3_instances_messages_per_s"]
        figures[f"{name}_growth_3_over_1"] = round(three / one, 2) if one else None
    ctx.notes.append(f"scaleout: dispatch, then dedup, alone drain a backlog made from {CASES} "
                     "reports with 1 and 3 instances in one consumer group; on 2 shared cores "
                     "the growth is bounded by CPU, not by partitions.")
    return figures


def drain(infra: BenchInfra, group: Group, instances: int, n: int) -> tuple[float, list[int]]:
    made = upstream_messages(infra, group, n)
    infra.reset()
    stack = infra.start_services([group.service])
    try:
        members = [stack.processes[group.service]]
        members += [infra.start_instance(group.service, i) for i in range(1, instances)]
        for m in members:
            m.wait_ready()
        time.sleep(SETTLE_SECONDS)
        before = [applied(m.url, group.topic) for m in members]
        began = time.monotonic()  # the backlog arrives now, while the group runs
        if made is None:
            asyncio.run(produce_reports(infra.bootstrap, [f"so-{uuid.uuid4()}"
                                                          for _ in range(n)]))
        else:
            asyncio.run(produce(infra.bootstrap, group.topic, made))
        total = n if made is None else len(made)
        wait_recorded(infra, group.service, group.topic, total)
        elapsed = time.monotonic() - began
        shares = [applied(m.url, group.topic) - b for m, b in zip(members, before, strict=True)]
        return round(total / elapsed, 1), shares
    finally:
        infra.stop_services()


def upstream_messages(infra: BenchInfra, group: Group, n: int) -> list[Message] | None:
    """What the upstream service publishes for n reports, captured from its topic (None
    for a group that reads the reports themselves)."""
    if group.upstream is None:
        return None
    infra.reset()
    infra.start_services([group.upstream])
    try:
        asyncio.run(produce_reports(infra.bootstrap, [f"so-{uuid.uuid4()}" for _ in range(n)]))
        wait_recorded(infra, group.upstream, INTAKE, n)
        return asyncio.run(_capture(infra.bootstrap, group.topic))
    finally:
        infra.stop_services()


def wait_recorded(infra: BenchInfra, service: str, topic: str, total: int,
                  timeout: float = 900) -> None:
    """Until the service's tracking rows account for `total` messages of the topic."""
    tracked, deadline = TRACKED.format(schema=service), time.monotonic() + timeout
    while infra.count(tracked, f"{topic}:%") < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} did not record {total} messages of {topic}")
        time.sleep(0.1)


async def _capture(bootstrap: str, topic: str) -> list[Message]:
    """The topic from offset 0, once its producer's relay has stopped adding to it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = {}
        while ends != (ends := await consumer.end_offsets(tps)):
            await asyncio.sleep(1.0)
        for tp in tps:
            consumer.seek(tp, 0)
        out: list[Message] = []
        while len(out) < sum(ends.values()):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [(r.key, r.value, list(r.headers)) for r in records]
        return out
    finally:
        await consumer.stop()
