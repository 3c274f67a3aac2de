"""The benchmark's own infrastructure: a Kafka broker and a PostgreSQL cluster with their own
state dirs and ports (apart from `make run` and every e2e slot), the five real service
processes on them, and the probes the suites share (counts, metrics, peak memory).

Scenarios start from a clean slate (`reset`: services stopped, their schemas dropped, the
topics deleted), so the figures of one never include the backlog of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import psycopg
import shapely
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.hops import Process, pid_file
from govctl.processes import REPO, ServiceProcess, Stack, infra
from shared.catalogue import categories
from shared.events import Actor, Channel, Location, serialize_event
from shared.events.envelope import IntegrationEvent
from shared.events.intake import CaseReported
from shared.events.topics import ALL_TOPICS, INTAKE
from shared.runtime.auth import issue_token
from shared.runtime.kafka import consumer_lag, ensure_topics

KAFKA_PORT = int(os.environ.get("BENCH_KAFKA_PORT", "39092"))
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "35432"))
HTTP_BASE = int(os.environ.get("BENCH_HTTP_PORT", "18101"))  # 18101..5; extras from 18111
KAFKA_ENV = {"KAFKA_STATE_DIR": str(REPO / ".local" / "kafka-bench"),
             "KAFKA_PORT": str(KAFKA_PORT), "KAFKA_CONTROLLER_PORT": str(KAFKA_PORT + 1)}
PG_ENV = {"PG_STATE_DIR": str(REPO / ".local" / "pg-bench"), "PG_PORT": str(PG_PORT)}
# The five services of the closed loop (the portal serves pages; it is not on the event path).
CORE = ("intake", "dedup", "dispatch", "supervision", "projections")
PORTS = {name: HTTP_BASE + i for i, name in enumerate(CORE)}
SCHEMAS = CORE
CITY_PATH = ("350300", "350303", "350303100", "350303100001", "350303100001004")  # (119.02, 25.44)


class BenchInfra:
    """Broker, database and the running stack of one `make bench` run."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.secret = secrets.token_hex(32)
        self.bootstrap = f"127.0.0.1:{KAFKA_PORT}"
        self.database_url = ""
        self.stack: Stack | None = None
        self.extra: list[ServiceProcess] = []

    def start(self) -> None:
        for script, env in (("kafka", KAFKA_ENV), ("postgres", PG_ENV)):
            infra(script, "clean", env=env)
            infra(script, "start", env=env)
        self.database_url = infra("postgres", "url", env=PG_ENV)

    def close(self) -> None:
        self.stop_services()
        if not os.environ.get("BENCH_KEEP_INFRA"):
            for script, env in (("kafka", KAFKA_ENV), ("postgres", PG_ENV)):
                infra(script, "clean", env=env)

    # -- services ----------------------------------------------------------------------

    def env(self, **overrides: str) -> dict[str, str]:
        data = self.scratch / "services"
        data.mkdir(parents=True, exist_ok=True)
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": self.database_url,
                "GOV_DATA_DIR": str(data), "GOV_CLOCK": "driven", "GOV_LOG_JSON": "true",
                "GOV_LOG_LEVEL": "WARNING", "GOV_AUTH_SECRET": self.secret, **overrides}

    def start_services(self, names: list[str] | None = None, **overrides: str) -> Stack:
        self.stop_services()
        self.stack = Stack(env=self.env(**overrides), log_dir=self.scratch / "logs",
                           ports=dict(PORTS))
        self.stack.start(names)
        return self.stack

    def start_instance(self, name: str, index: int, **overrides: str) -> ServiceProcess:
        """One more instance of a service, in the same consumer group as the first."""
        p = ServiceProcess(name, HTTP_BASE + 10 + index, self.env(**overrides),
                           self.scratch / "logs", instance=f"-{index}")
        p.start()
        self.extra.append(p)
        return p

    def stop_services(self) -> None:
        for p in self.extra:
            p.stop()
        self.extra = []
        if self.stack is not None:
            self.stack.stop()
            self.stack = None

    def reset(self) -> None:
        """A clean slate: no service running, no service schema, empty topics."""
        self.stop_services()
        with psycopg.connect(self.database_url, autocommit=True) as c:
            for schema in (*SCHEMAS, *self._scratch_schemas(c)):
                c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        asyncio.run(recreate_topics(self.bootstrap))

    @staticmethod
    def _scratch_schemas(c: psycopg.Connection) -> list[str]:
        rows = c.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench%'")
        return [r[0] for r in rows]

    def token(self, role: str = "leader", sub: str = "bench-1") -> str:
        return issue_token(sub, role, "350300", "压测", None, key=self.secret)

    # -- probes --------------------------------------------------------------------------

    def count(self, sql: str, *params: object) -> int:
        with psycopg.connect(self.database_url, autocommit=True) as c:
            row = c.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def settled(self) -> int:
        """Reports dedup and dispatch are done with, as the read model shows them (SETTLED)."""
        return self.count(
            "SELECT (SELECT count(*) FROM projections.rm_cases "
            "        WHERE status NOT IN ('reported', 'registered'))"
            "     + (SELECT count(*) FROM projections.rm_case_aliases)")

    def wait_settled(self, total: int, timeout: float, every: float = 0.1) -> float:
        """Poll until `total` reports are settled; returns when it was seen (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.settled() >= total:
                return time.monotonic()
            time.sleep(every)
        raise TimeoutError(f"only {self.settled()} of {total} reports settled "
                           f"after {timeout:.0f}s")

    def wait_quiet(self, timeout: float = 600) -> float:
        """Poll until every service's consumer group has recorded everything on its topics
        (two readings of zero, a second apart: a relay may still publish in between).
        Returns the seconds it took: a backlog left by an earlier phase is not measured as
        the next phase's latency."""
        began = time.monotonic()
        zeros = 0
        while zeros < 2:
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"consumers still lagging after {timeout:.0f}s")
            zeros = zeros + 1 if asyncio.run(consumer_lag(self.bootstrap, CORE)) == 0 else 0
            time.sleep(1.0)
        return round(time.monotonic() - began, 1)

    def measured(self) -> list[Process]:
        """Every process the platform runs on: the services, the broker, the database."""
        found = [Process(p.name, p.proc.pid) for p in self.processes()
                 if p.proc is not None and p.proc.poll() is None]
        broker = pid_file(Path(KAFKA_ENV["KAFKA_STATE_DIR"]) / "kafka.pid")
        database = pid_file(Path(PG_ENV["PG_STATE_DIR"]) / "data" / "postmaster.pid")
        found += [Process("kafka", broker)] if broker else []
        found += [Process("postgres", database, with_children=True)] if database else []
        return found

    def processes(self) -> Iterator[ServiceProcess]:
        if self.stack is not None:
            yield from self.stack.processes.values()
        yield from self.extra


# Settled in the read model: the case past `registered` (dispatched, or held for review when
# dedup was unsure; with its dispatch time), or the report merged into another case.
SETTLED = ("SELECT case_id, dispatched_at FROM projections.rm_cases "
           "WHERE status NOT IN ('reported', 'registered') AND case_id = ANY(%(ids)s) "
           "UNION ALL SELECT report_case_id, NULL FROM projections.rm_case_aliases "
           "WHERE report_case_id = ANY(%(ids)s)")


class Watch:
    """Polls the read model, from a thread of its own, for the case ids added to `wanted`
    while the load is still being sent: a case is timed when it shows, not when sending
    ends (polling only afterwards made every latency about half the sending time)."""

    def __init__(self, database_url: str, timeout: float, every: float = 0.025) -> None:
        self.wanted: dict[str, float] = {}  # case id -> when it was sent (wall clock)
        self.seen: dict[str, tuple[datetime | None, float]] = {}  # -> (dispatched, seen)
        self.sending = True
        self._thread = threading.Thread(target=self._poll, args=(database_url, timeout, every),
                                        daemon=True)
        self._thread.start()

    def result(self) -> dict[str, tuple[datetime | None, float]]:
        """Once everything was sent: wait until every case showed, or the timeout."""
        self.sending = False
        self._thread.join()
        return self.seen

    def _poll(self, database_url: str, timeout: float, every: float) -> None:
        deadline = time.monotonic() + timeout
        with psycopg.connect(database_url, autocommit=True) as c:
            while time.monotonic() < deadline:
                pending = [i for i in list(self.wanted) if i not in self.seen]
                if not pending and not self.sending:
                    return
                if pending:
                    rows = c.execute(SETTLED, {"ids": pending}).fetchall()
                    now = time.time()
                    for case_id, dispatched_at in rows:
                        self.seen.setdefault(case_id, (dispatched_at, now))
                time.sleep(every)


def applied(url: str, topic: str | None = None) -> int:
    """Messages a service instance recorded (its `gov_messages_applied_total`)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("gov_messages_applied_total{") and (
            topic is None or f'topic="{topic}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), from /proc: no sampling gaps."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(match.group(1)) / 1024, 1) if match else 0.0


async def recreate_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in existing if t in ALL_TOPICS]
        if doomed:
            await admin.delete_topics(doomed)
        for _ in range(100):  # deletion is asynchronous in the broker
            if not set(await admin.list_topics()) & set(doomed):
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    await _ensure_topics_retrying(bootstrap)


async def _ensure_topics_retrying(bootstrap: str) -> None:
    """Create the topics again; a topic still being deleted is refused without an error
    (the admin answer carries it per topic), so check the listing and try again."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for attempt in range(60):
            with contextlib.suppress(KafkaError):  # the listing below decides
                await ensure_topics(bootstrap)
            if set(ALL_TOPICS) <= set(await admin.list_topics()):
                return
            await asyncio.sleep(0.25 * (1 + attempt % 4))
        raise RuntimeError("topics could not be recreated")
    finally:
        await admin.close()


@cache
def _grid_shapes() -> tuple[Any, ...]:
    from shared.places.model import Level

    return tuple(g.geometry.to_shape() for g in _registry().by_level(Level.GRID) if g.geometry)


def _spot(rng: random.Random) -> tuple[float, float]:
    """A point drawn evenly inside a random grid. (Reports on the units' own points, a few
    metres apart, put most of a dense run beside a same-category case: the matcher sent
    36% of 9,000 to review; spread over the grids, 8%.)"""
    shape = rng.choice(_grid_shapes())
    minx, miny, maxx, maxy = shape.bounds
    for _ in range(50):
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(shape, lon, lat):
            return lon, lat
    point = shape.representative_point()
    return point.x, point.y


@cache
def _registry() -> Any:
    from shared.places.demo import load_demo_registry

    return load_demo_registry()


def synthetic_report(rng: random.Random) -> dict[str, Any]:
    """A distinct report in the demo city: a spot in a random grid, a random category, and
    text no other report shares (not even its category's name), so that the dedup matcher
    registers nearly every one as a new case rather than queue it for review."""
    lon, lat = _spot(rng)
    category = rng.choice(sorted(categories()))
    words = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(30))
    return {"category": category, "title": words[:6], "description": words[6:],
            "location": {"lon": round(lon, 6), "lat": round(lat, 6)}}


def case_reported(ref: str, rng: random.Random) -> CaseReported:
    """A placed grid report, exactly what intake's relay would publish for it."""
    body = synthetic_report(rng)
    where = _registry().locate(body["location"]["lon"], body["location"]["lat"])
    path = tuple(where.area_path) if where is not None else CITY_PATH[:1]
    rid = uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{ref}")
    now = datetime.now(UTC)
    return CaseReported(
        event_id=IntegrationEvent.derive_id("intake", rid, 1), case_id=rid, occurred_at=now,
        producer="intake", correlation_id=rid,
        actor=Actor(id="bench-gw", role="grid_worker", name="压测网格员"),
        report_id=rid, channel=Channel.GRID_APP, external_ref=ref,
        category=body["category"], title=body["title"], description=body["description"],
        location=Location(**body["location"]), place_code=path[-1], area_path=path,
        placed=where is not None, reported_at=now)


# A message as it goes on a topic: key, value, headers.
Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def produce_reports(bootstrap: str, refs: Iterable[str], seed: int | None = None) -> int:
    """High-volume intake straight onto gov.intake.events, so HTTP does not cap it. The
    messages are built first, so the send itself is what the caller times. Each call draws
    fresh reports (a repeated one would rightly be merged by dedup)."""
    rng = random.Random(seed)
    events = [case_reported(ref, rng) for ref in refs]
    return await produce(bootstrap, INTAKE, [
        (str(e.case_id).encode(), serialize_event(e), e.envelope_headers()) for e in events])


async def produce(bootstrap: str, topic: str, messages: Sequence[Message]) -> int:
    """Every message onto the topic, batched, and all acknowledged before returning."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key, headers=headers)
                for key, value, headers in messages]
        await asyncio.gather(*sent)
        return len(sent)
    finally:
        await producer.stop()


def remove_scratch(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 2)
