"""Baselines measured in the same run as the platform's figures, on the same broker and
database:

(a) the limits: a bare aiokafka consume-produce loop (no parsing, no database), a bare
    PostgreSQL batch insert (executemany, 500 rows a transaction) and COPY;
(b) the peer: the same loop (report -> registered -> dispatched -> projected: the same
    aggregates' fields, idempotence checks and working-day deadlines) as an in-process
    eventsourcing `System` of four process applications on PostgreSQL, run by its
    `SingleThreadedRunner` (one transaction per event, with its tracking row);
(c) the naive design: the real five service processes configured to take one message per
    transaction with one offset commit each (GOV_CONSUMER_MAX_RECORDS=1) and to relay one
    event per broker round trip (GOV_RELAY_BATCH_SIZE=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication, SingleThreadedRunner, System

from bench.stack import CITY_PATH, BenchInfra, case_reported, produce_reports
from shared.events import serialize_event
from shared.events.topics import PARTITIONS
from shared.runtime.store import ensure_schema
from shared.workcalendar import WorkCalendar

LIMIT_MESSAGES = int(os.environ.get("BENCH_LIMIT_MESSAGES", "50000"))
PEER_CASES = int(os.environ.get("BENCH_PEER_CASES", "1000"))
NAIVE_CASES = int(os.environ.get("BENCH_NAIVE_CASES", "600"))


def run(ctx: Any) -> dict[str, Any]:
    infra: BenchInfra = ctx.infra()
    infra.reset()
    figures: dict[str, Any] = {}
    figures.update(asyncio.run(kafka_limit(infra.bootstrap, LIMIT_MESSAGES)))
    figures.update(postgres_limit(infra.database_url, LIMIT_MESSAGES))
    figures["baseline_inprocess_cases_per_s"] = inprocess_peer(infra.database_url, PEER_CASES)
    figures["baseline_naive_cases_per_s"] = naive(infra, NAIVE_CASES)
    ctx.notes.append("baselines: peer = eventsourcing System (SingleThreadedRunner) of four "
                     "process applications on PostgreSQL, one transaction per event; naive = "
                     "the real services with GOV_CONSUMER_MAX_RECORDS=1, GOV_RELAY_BATCH_SIZE=1.")
    return figures


# -- (a) limits ------------------------------------------------------------------------


async def kafka_limit(bootstrap: str, n: int) -> dict[str, float]:
    """Consume n real-sized messages and produce each to another topic, as fast as it goes."""
    run_id = uuid.uuid4().hex[:8]  # fresh names: never a topic still being deleted
    limit_in, limit_out = f"bench.limit.in.{run_id}", f"bench.limit.out.{run_id}"
    await _create_topics(bootstrap, limit_in, limit_out)
    body = serialize_event(case_reported("limit", random.Random(0)))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        began = time.perf_counter()
        acks = [await producer.send(limit_in, body, key=str(i).encode()) for i in range(n)]
        await asyncio.gather(*acks)
        produce_rate = n / (time.perf_counter() - began)
        loop_rate = await _consume_produce(bootstrap, producer, n, limit_in, limit_out)
    finally:
        await producer.stop()
    return {"limit_kafka_produce_msgs_per_s": round(produce_rate, 1),
            "limit_kafka_msgs_per_s": round(loop_rate, 1)}


async def _create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in names])
        while not set(names) <= set(await admin.list_topics()):
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _consume_produce(bootstrap: str, producer: AIOKafkaProducer, n: int,
                           source: str, sink: str) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"bench-{source}",
                                enable_auto_commit=False, max_poll_records=500)
    await consumer.start()
    try:
        tps = [TopicPartition(source, p) for p in range(PARTITIONS)]  # as created above
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)  # a new topic: its first offset
        began, done = time.perf_counter(), 0
        while done < n:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batches.items():
                acks = [await producer.send(sink, r.value, key=r.key) for r in records]
                await asyncio.gather(*acks)
                await consumer.commit({tp: records[-1].offset + 1})
                done += len(records)
        return n / (time.perf_counter() - began)
    finally:
        await consumer.stop()


def postgres_limit(database_url: str, n: int) -> dict[str, float]:
    body = json.loads(serialize_event(case_reported("limit", random.Random(0))))
    rows = [(str(uuid.uuid4()), json.dumps({**body, "n": i})) for i in range(n)]
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("CREATE SCHEMA IF NOT EXISTS bench_limit")
        c.execute("CREATE TABLE bench_limit.rows (id bigserial PRIMARY KEY, case_id text "
                  "NOT NULL UNIQUE, payload jsonb NOT NULL)")
        began = time.perf_counter()
        for lo in range(0, n, 500):
            with c.transaction(), c.cursor() as cur:
                cur.executemany("INSERT INTO bench_limit.rows (case_id, payload) "
                                "VALUES (%s, %s)", rows[lo:lo + 500])
        insert_rate = n / (time.perf_counter() - began)
        c.execute("TRUNCATE bench_limit.rows")
        began = time.perf_counter()
        with c.transaction(), c.cursor() as cur, cur.copy(
            "COPY bench_limit.rows (case_id, payload) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        copy_rate = n / (time.perf_counter() - began)
    return {"limit_pg_rows_per_s": round(insert_rate, 1),
            "limit_pg_copy_rows_per_s": round(copy_rate, 1)}


# -- (b) the peer: an in-process eventsourcing System -------------------------------------


META = {"actor": {"id": "bench", "role": "grid_worker", "name": ""}, "causation_id": None}
# The peer's responsibility list: category -> (department, working hours to sign for, to handle).
ROUTES = {"urban.garbage": ("urban_mgmt", 1, 4)}


class PeerReport(Aggregate):
    @event("Received")
    def __init__(self, id: uuid.UUID, channel: str, external_ref: str, category: str,
                 title: str, description: str, location: dict[str, float], place_code: str,
                 area_path: list[str], reported_at: datetime, meta: dict[str, Any]) -> None:
        self.category = category
        self.area_path = area_path


class PeerCaseFile(Aggregate):
    @event("Registered")
    def __init__(self, id: uuid.UUID, report_id: uuid.UUID, category: str, title: str,
                 description: str, area_path: list[str], reported_at: datetime,
                 meta: dict[str, Any]) -> None:
        self.report_ids = [report_id]


class PeerCase(Aggregate):
    @event("Dispatched")
    def __init__(self, id: uuid.UUID, category: str, area_path: list[str], department: str,
                 urgency: str, sign_deadline: datetime, handle_deadline: datetime,
                 meta: dict[str, Any]) -> None:
        self.department = department


class CaseView(Aggregate):
    """The peer's read model: one row-like aggregate per projected case."""

    @event("Projected")
    def __init__(self, id: uuid.UUID, department: str, area_path: list[str]) -> None:
        self.department = department
        self.area_path = area_path


class PeerIntake(Application[uuid.UUID]):
    def report(self, ref: str) -> uuid.UUID:
        rid = uuid.uuid5(uuid.NAMESPACE_URL, f"peer:{ref}")
        self.save(PeerReport(id=rid, channel="grid_app", external_ref=ref,
                             category="urban.garbage", title="垃圾满溢",
                             description="小区东门垃圾桶满溢，两天没人清运。",
                             location={"lon": 119.02, "lat": 25.44}, place_code=CITY_PATH[-1],
                             area_path=list(CITY_PATH), reported_at=datetime.now(UTC),
                             meta={**META, "correlation_id": str(rid)}))
        return rid


class PeerDedup(ProcessApplication[uuid.UUID]):
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        if isinstance(domain_event, PeerReport.Received):  # type: ignore[attr-defined]
            e = domain_event
            if e.originator_id in self.repository:
                return
            processing_event.collect_events(PeerCaseFile(
                id=e.originator_id, report_id=e.originator_id, category=e.category,
                title=e.title, description=e.description, area_path=e.area_path,
                reported_at=e.reported_at, meta=e.meta))


class PeerDispatch(ProcessApplication[uuid.UUID]):
    calendar = WorkCalendar()

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        if isinstance(domain_event, PeerCaseFile.Registered):  # type: ignore[attr-defined]
            e = domain_event
            if e.originator_id in self.repository:
                return
            department, sign_hours, handle_hours = ROUTES[e.category]
            processing_event.collect_events(PeerCase(
                id=e.originator_id, category=e.category, area_path=e.area_path,
                department=department, urgency="normal",
                sign_deadline=self.calendar.add_working_hours(e.timestamp, sign_hours),
                handle_deadline=self.calendar.add_working_hours(e.timestamp, handle_hours),
                meta=e.meta))


class PeerProjection(ProcessApplication[uuid.UUID]):
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        if isinstance(domain_event, PeerCase.Dispatched):  # type: ignore[attr-defined]
            e = domain_event
            processing_event.collect_events(CaseView(
                id=e.originator_id, department=e.department, area_path=e.area_path))


def inprocess_peer(database_url: str, n: int) -> float:
    ensure_schema(database_url, "bench_peer")
    url = urlparse(database_url)
    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres",
           "POSTGRES_DBNAME": url.path.lstrip("/"), "POSTGRES_HOST": url.hostname or "",
           "POSTGRES_PORT": str(url.port or 5432), "POSTGRES_USER": unquote(url.username or ""),
           "POSTGRES_PASSWORD": unquote(url.password or ""), "POSTGRES_SCHEMA": "bench_peer",
           "CREATE_TABLE": "y"}
    system = System(pipes=[[PeerIntake, PeerDedup, PeerDispatch, PeerProjection]])
    runner: SingleThreadedRunner[uuid.UUID] = SingleThreadedRunner(system, env=env)
    runner.start()
    try:
        intake = runner.get(PeerIntake)
        projection = runner.get(PeerProjection)
        for i in range(20):  # warm up connections and caches
            intake.report(f"peer-warm-{i}")
        began = time.perf_counter()
        ids = [intake.report(f"peer-{uuid.uuid4()}") for _ in range(n)]
        elapsed = time.perf_counter() - began
        missing = [i for i in ids if i not in projection.repository]
        if missing:
            raise AssertionError(f"peer lost {len(missing)} cases")
        return round(n / elapsed, 1)
    finally:
        runner.stop()


# -- (c) the naive design ---------------------------------------------------------------


def naive(infra: BenchInfra, n: int) -> float:
    infra.reset()
    infra.start_services(GOV_CONSUMER_MAX_RECORDS="1", GOV_RELAY_BATCH_SIZE="1")
    try:
        asyncio.run(produce_reports(infra.bootstrap, [f"nw-{uuid.uuid4()}" for _ in range(50)]))
        infra.wait_settled(50, timeout=300)
        began = time.monotonic()
        asyncio.run(produce_reports(infra.bootstrap, [f"nv-{uuid.uuid4()}" for _ in range(n)]))
        done = infra.wait_settled(50 + n, timeout=900)
        return round(n / (done - began), 1)
    finally:
        infra.stop_services()
