"""Where an offered load's latency goes, and what each case cost in CPU.

- Hops: each case's first event on each producer's topic, timed by the broker's CreateTime
  (the relay's send): request sent -> `case.reported` on the intake topic (HTTP, group
  commit, relay) -> `case.registered` on the dedup topic (fetch, match, record, relay) ->
  `case.dispatched` on the dispatch topic. The total's p99 says the target is missed; the
  hops say where.
- CPU: each process's user + system seconds over the load (services, broker, database and
  its backends), divided by the cases accepted. At a rate the cores cannot carry, every
  hop queues; this is the figure that says so.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from shared.events.topics import DEDUP, DISPATCH, INTAKE

# (hop name, topic, the event that ends the hop), in the order a case walks them.
HOPS = (("intake", INTAKE, "case.reported"), ("dedup", DEDUP, "case.registered"),
        ("dispatch", DISPATCH, "case.dispatched"))
TICK = os.sysconf("SC_CLK_TCK")


async def first_times(bootstrap: str, topic: str, event_type: str) -> dict[str, float]:
    """Case id -> CreateTime (epoch seconds) of its first `event_type` message on `topic`,
    read from the beginning up to the end offsets as they were when called."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    times: dict[str, float] = {}
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for r in records:
                    if r.key and dict(r.headers or ()).get("event_type") == event_type.encode():
                        times.setdefault(r.key.decode(), r.timestamp / 1000)
    finally:
        await consumer.stop()
    return times


def hop_latencies(sent: Mapping[str, float],
                  reached: Iterable[Mapping[str, float]]) -> dict[str, list[float]]:
    """Milliseconds each hop took, for the cases that reached the last one. `reached`: one
    map per hop (case id -> when its event left), in the order of HOPS."""
    stages = list(reached)
    hops: dict[str, list[float]] = {name: [] for name, *_ in HOPS[:len(stages)]}
    for case_id, began in sent.items():
        times = [stage.get(case_id) for stage in stages]
        if any(t is None for t in times):
            continue  # merged into another case or held for review: never dispatched
        previous = began
        for (name, *_), t in zip(HOPS, times, strict=False):
            assert t is not None
            hops[name].append((t - previous) * 1000)
            previous = t
    return hops


def read_hops(bootstrap: str, sent: Mapping[str, float]) -> dict[str, list[float]]:
    async def read() -> list[dict[str, float]]:
        return [await first_times(bootstrap, topic, event) for _, topic, event in HOPS]

    return hop_latencies(sent, asyncio.run(read()))


@dataclass(frozen=True)
class Process:
    name: str
    pid: int
    with_children: bool = False  # the database: its backends are children of the postmaster


def cpu_seconds(process: Process) -> float:
    """User + system seconds; with the live children's, and the reaped ones' (cutime)."""
    pids = [process.pid, *(_children(process.pid) if process.with_children else ())]
    total = 0.0
    for pid in pids:
        fields = _stat(pid)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if process.with_children and pid == process.pid:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: backends gone
    return total / TICK


def cpu_by_process(processes: Iterable[Process]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for p in processes:
        totals[p.name] = totals.get(p.name, 0.0) + cpu_seconds(p)
    return totals


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def _children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


def pid_file(path: Path) -> int | None:
    """The first line of a pid file (Kafka's, PostgreSQL's postmaster.pid), if present."""
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
