"""Case-file query latency with a large read model.

The projections tables (`rm_cases`, `rm_case_events`) are seeded in bulk on the server
(INSERT ... SELECT over generate_series: three events per case, as a dispatched case has),
then the real projections service answers GET /api/cases/{id}/file over HTTP for random
seeded cases, one request at a time; the figures are the HTTP round trip as a client sees it.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid
from typing import Any

import httpx
import psycopg

from bench.stack import CITY_PATH, BenchInfra, percentile

CASES = int(os.environ.get("BENCH_CASEFILE_CASES", "1000000"))
QUERIES = int(os.environ.get("BENCH_CASEFILE_QUERIES", "500"))
CHUNK = 100_000
AREA = "/".join(CITY_PATH)

SEED_CASES = """
INSERT INTO projections.rm_cases (case_id, status, category, channel, department, urgency,
    area_path, place_code, title, description, reported_at, dispatched_at, sign_deadline,
    handle_deadline, warned, overdue, escalated, report_count, reopen_count, updated_at)
SELECT md5('bench-case-' || i)::uuid::text, 'dispatched', 'urban.garbage', 'grid_app',
    'urban_mgmt', 'normal', %(area)s, %(place)s, '垃圾满溢', '小区东门垃圾桶满溢，两天没人清运。',
    now() - i * interval '1 second', now() - i * interval '1 second' + interval '1 second',
    now() + interval '1 hour', now() + interval '4 hour', false, false, false, 1, 0, now()
FROM generate_series(%(lo)s, %(hi)s) AS i
"""
SEED_EVENTS = """
INSERT INTO projections.rm_case_events (event_id, case_id, event_type, producer, occurred_at,
    actor_id, actor_role, actor_name, origin, payload)
SELECT md5('bench-event-' || i || '-' || k)::uuid::text, md5('bench-case-' || i)::uuid::text,
    (ARRAY['case.reported', 'case.registered', 'case.dispatched'])[k],
    (ARRAY['intake', 'dedup', 'dispatch'])[k], now() - i * interval '1 second' + k * interval
    '100 millisecond', 'bench', 'system', 'bench', 'seed:' || i || ':' || k,
    json_build_object('case_id', md5('bench-case-' || i)::uuid::text, 'category',
        'urban.garbage', 'description', '小区东门垃圾桶满溢，两天没人清运。', 'department',
        'urban_mgmt')
FROM generate_series(%(lo)s, %(hi)s) AS i, generate_series(1, 3) AS k
"""


def case_id(i: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"bench-case-{i}".encode()).hexdigest()))


def run(infra: BenchInfra) -> dict[str, Any]:
    """Expects the projections schema to exist (the e2e run created it)."""
    seed_seconds = seed(infra, CASES)
    infra.start_services(["projections"])
    stored = infra.count("SELECT count(*) FROM projections.rm_cases")
    latencies = query(infra, [case_id(random.randint(1, CASES)) for _ in range(QUERIES)])
    infra.stop_services()
    return {
        "case_file_cases_stored": stored,
        "case_file_events_stored": infra.count(
            "SELECT count(*) FROM projections.rm_case_events"),
        "case_file_seed_rows_per_s": round(CASES * 4 / seed_seconds, 1),
        "case_file_p50_ms": percentile(latencies, 50),
        "case_file_p95_ms": percentile(latencies, 95),
        "case_file_p99_ms": percentile(latencies, 99),
    }


def seed(infra: BenchInfra, n: int) -> float:
    began = time.perf_counter()
    params = {"area": AREA, "place": CITY_PATH[-1]}
    with psycopg.connect(infra.database_url, autocommit=True) as c:
        for lo in range(1, n + 1, CHUNK):
            hi = min(n, lo + CHUNK - 1)
            with c.transaction():
                c.execute(SEED_CASES, {**params, "lo": lo, "hi": hi})
                c.execute(SEED_EVENTS, {**params, "lo": lo, "hi": hi})
        c.execute("ANALYZE projections.rm_cases")
        c.execute("ANALYZE projections.rm_case_events")
    return time.perf_counter() - began


def query(infra: BenchInfra, ids: list[str]) -> list[float]:
    headers = {"Authorization": f"Bearer {infra.token()}"}
    assert infra.stack is not None
    latencies: list[float] = []
    with httpx.Client(base_url=infra.stack.url("projections"), headers=headers,
                      timeout=30) as client:
        for warm in ids[:20]:
            client.get(f"/api/cases/{warm}/file").raise_for_status()
        for cid in ids:
            began = time.perf_counter()
            r = client.get(f"/api/cases/{cid}/file")
            latencies.append((time.perf_counter() - began) * 1000)
            r.raise_for_status()
            if len(r.json()["events"]) != 3:
                raise AssertionError(f"case file of {cid} has not its three events")
    return latencies
