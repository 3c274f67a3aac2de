"""Dashboard summary latency at a million cases, and the rate of a full rebuild.

The read model is built by the projection's own sink (`CaseReadModel.process_batch`, what
the consumer calls for every partition batch) from synthetic events spread over the demo
city's grids. Then, in the same run:
  * the dashboard summary (pre-aggregated counts) for the city, a town and a grid, and
    beside it the naive COUNT(*) ... GROUP BY over the case rows (the baseline);
  * the rebuild rate: messages parsed from their wire form and applied in batches, beside
    the rate of parsing alone (the ceiling any consumer in Python meets first).
Target (issue 7): summary p99 <= 50 ms at 1,000,000 cases; rebuild >= 50,000 events/s.
BENCH_DASHBOARD_CASES overrides the case count (for a quick run).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from services.projections import rebuild
from services.projections.readmodel import CaseReadModel
from shared.catalogue import categories
from shared.events import Actor, Channel, IntegrationEvent, parse_event, serialize_event
from shared.events.dedup import CaseRegistered
from shared.events.dispatch import CaseClosed, CaseDispatched
from shared.places import Level, load_demo_registry
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound

BATCH = 5000
REBUILD_SAMPLE = 200_000  # messages timed for the rebuild rate
START = datetime(2026, 1, 1, tzinfo=UTC)
SYSTEM = Actor(id="bench", role="system", name="bench")
CHANNELS = list(Channel)
DEPTS = ["urban_mgmt", "emergency", "market_reg", "ecology", "police", "justice"]


def stories(n: int, seed: int = 11) -> Iterator[IntegrationEvent]:
    """Registered + dispatched for every case, closed for one in ten."""
    rng = random.Random(seed)
    grids = [load_demo_registry().area_path_str(g.code)
             for g in load_demo_registry().by_level(Level.GRID)]
    cats = list(categories())
    for i in range(n):
        case_id = uuid.UUID(int=rng.getrandbits(128))
        area = tuple(rng.choice(grids).split("/"))
        at = START + timedelta(minutes=i * 525_600 // max(n, 1))
        cat = rng.choice(cats)
        env: dict[str, Any] = {"case_id": case_id, "producer": "bench",
                               "correlation_id": case_id, "actor": SYSTEM}
        yield CaseRegistered.model_construct(
            event_id=uuid.UUID(int=rng.getrandbits(128)), occurred_at=at, **env,
            report_id=case_id, channel=rng.choice(CHANNELS), category=cat, title="",
            description="bench", location=None, place_code=area[-1], area_path=area,
            reported_at=at)
        dept = rng.choice(DEPTS)
        yield CaseDispatched.model_construct(
            event_id=uuid.UUID(int=rng.getrandbits(128)), occurred_at=at, **env,
            department=dept, category=cat, area_path=area, urgency="normal", round=1,
            sign_deadline=at + timedelta(hours=4), handle_deadline=at + timedelta(days=5))
        if i % 10 == 0:
            yield CaseClosed.model_construct(
                event_id=uuid.UUID(int=rng.getrandbits(128)),
                occurred_at=at + timedelta(days=2), **env, department=dept, on_time=True)


def load(model: CaseReadModel, events: Iterator[IntegrationEvent]) -> int:
    offset = 0
    batch: list[Inbound] = []
    for e in events:
        batch.append(Inbound("gov.dedup.events", 0, offset, e))
        offset += 1
        if len(batch) == BATCH:
            model.process_batch(batch)
            batch = []
    if batch:
        model.process_batch(batch)
    return offset


def rebuild_rate(scratch: Any) -> dict[str, int]:
    """The same wire messages built twice, back to back: as the rebuild does (its batch
    size and collector pace, counts and case rows written once at the end) and as the live
    consumer does (5,000-message batches, written by every batch): this run's baseline."""
    wire = [serialize_event(e) for e, _ in zip(stories(REBUILD_SAMPLE // 2, seed=5),
                                               range(REBUILD_SAMPLE), strict=False)]
    began = time.perf_counter()
    for body in wire:
        parse_event(body)
    parse_only = len(wire) / (time.perf_counter() - began)
    rebuilt = _build_rate(scratch, wire, rebuilding=True)
    live = _build_rate(scratch, wire, rebuilding=False)
    return {"dashboard.rebuild_events_per_s": round(rebuilt),
            "dashboard.rebuild_live_path_events_per_s": round(live),
            "dashboard.rebuild_parse_only_events_per_s": round(parse_only),
            "dashboard.rebuild_sample_events": len(wire)}


def _build_rate(scratch: Any, wire: list[bytes], rebuilding: bool) -> float:
    path = scratch / f"dashboard-rebuild-{os.getpid()}"  # concurrent runs never share a file
    shutil.rmtree(path, ignore_errors=True)
    model = CaseReadModel(ServiceSettings(service_name="projections", data_dir=path))
    size = rebuild.REBUILD_BATCH if rebuilding else BATCH
    began = time.perf_counter()
    with rebuild.written_at_the_end(model) if rebuilding else nullcontext(), \
            rebuild.fewer_collections() if rebuilding else nullcontext():
        for i in range(0, len(wire), size):
            model.process_batch([Inbound("gov.dedup.events", 0, i + k, parse_event(b))
                                 for k, b in enumerate(wire[i : i + size])])
    seconds = time.perf_counter() - began
    model.close()
    shutil.rmtree(path, ignore_errors=True)
    return len(wire) / seconds


def latencies(fn: Any, args: list[Any], runs: int) -> list[float]:
    out = []
    for i in range(runs):
        began = time.perf_counter()
        fn(args[i % len(args)])
        out.append((time.perf_counter() - began) * 1000)
    return sorted(out)


def p(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def run(ctx: Any) -> dict[str, object]:
    cases = int(os.environ.get("BENCH_DASHBOARD_CASES", "1000000"))
    rebuilt = rebuild_rate(ctx.scratch)
    figures: dict[str, object] = dict(rebuilt)
    path = ctx.scratch / f"dashboard-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    model = CaseReadModel(ServiceSettings(service_name="projections", data_dir=path))
    began = time.perf_counter()
    events = load(model, stories(cases))
    build = time.perf_counter() - began
    reg = load_demo_registry()
    towns = [reg.area_path_str(x.code) for x in reg.by_level(Level.TOWN)]
    grids = [reg.area_path_str(x.code) for x in reg.by_level(Level.GRID)]
    areas = ["350300", *towns[:20], *grids[:40]]
    fast = latencies(model.summary, areas, 600)
    city_fast = latencies(model.summary, ["350300"], 200)
    with model.engine.connect() as c:
        from services.projections.queries import naive_summary

        naive = latencies(lambda a: naive_summary(c, a), ["350300"], 5)
        assert naive_summary(c, "350300") == model.counts_by_status("350300")
    model.close()
    shutil.rmtree(path, ignore_errors=True)  # about 3 GB at a million cases
    figures.update({
        "dashboard.cases": cases, "dashboard.build_events": events,
        "dashboard.build_events_per_s": round(events / build),
        "dashboard.summary_p50_ms": p(fast, 0.5), "dashboard.summary_p99_ms": p(fast, 0.99),
        "dashboard.summary_city_p99_ms": p(city_fast, 0.99),
        "dashboard.naive_count_city_median_ms": round(statistics.median(naive), 1),
        "dashboard.speedup_vs_naive": round(statistics.median(naive) / p(city_fast, 0.5), 1),
        "dashboard.target_p99_met": p(fast, 0.99) <= 50,
        "dashboard.target_rebuild_met": rebuilt["dashboard.rebuild_events_per_s"] >= 50_000,
    })
    ctx.notes.append("dashboard: SQLite read model built by the projection's sink; summary "
                     "reads pre-aggregated counts, the baseline COUNT(*)s the case rows")
    return figures
