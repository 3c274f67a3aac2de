"""End to end on the real broker and PostgreSQL, the five real service processes.

- throughput: N CaseReported produced straight onto gov.intake.events (aiokafka, so HTTP
  does not cap it); timed from the first send until all N are visible as dispatched in the
  projections read model (each case: reported -> registered -> dispatched -> projected);
- each consumer service's events/s during that run (its applied-messages counter);
- latency at fixed offered loads through the real HTTP intake (open loop: requests leave on
  schedule whatever the answers do), each started once every consumer group is caught up:
  request sent -> dispatched (the stored event's time) and -> visible in the projections
  read model (polled every 25 ms); each hop's share of it, from the broker's times of
  the case's events (bench/hops.py); and each process's CPU per case over the load;
- peak memory of every service (VmHWM);
- then, with more cases sent through first (`BENCH_REPLAY_EXTRA_CASES`), replay/rebuild
  rates and the case-file latency with the read model seeded in bulk (bench/replay.py,
  bench/casefile.py).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench import casefile, replay
from bench.hops import Process, cpu_by_process, read_hops
from bench.stack import (
    BenchInfra,
    Watch,
    applied,
    peak_rss_mb,
    percentile,
    produce_reports,
    synthetic_report,
)

CASES = int(os.environ.get("BENCH_E2E_CASES", "3000"))
# Reports sent through before anything is timed. "Sustained" means a warm platform: on a
# freshly started broker the JVM compiles its hot paths for the first minute or two, and
# the first 3,000 cases measured 297/s where the fourth 3,000 measured 417/s (Kafka's CPU
# fell from half a core to a tenth of one meanwhile; docs/capacity.md).
WARMUP = int(os.environ.get("BENCH_E2E_WARMUP", "6000"))
LOADS = tuple(int(x) for x in os.environ.get("BENCH_E2E_LOADS", "50,200").split(","))
LOAD_SECONDS = float(os.environ.get("BENCH_E2E_LOAD_SECONDS", "8"))
CONSUMERS = ("dedup", "dispatch", "supervision", "projections")
# Cases sent through before the services stop, so that the replay reads a log of some
# size: on the 32,000 events the phases above leave, a rebuild worker's start (about a
# second of imports) was a quarter of the two-worker replay's time.
REPLAY_EXTRA = int(os.environ.get("BENCH_REPLAY_EXTRA_CASES", "20000"))


def run(ctx: Any) -> dict[str, Any]:
    infra: BenchInfra = ctx.infra()
    infra.reset()
    infra.start_services()
    figures: dict[str, Any] = {}
    # Each phase on its own: one that fails is noted and the others still report.
    phase(ctx, figures, "throughput", lambda: throughput(infra, CASES))
    for rate in LOADS:
        phase(ctx, figures, f"load {rate}/s", functools.partial(offered_load, infra, rate,
                                                                  LOAD_SECONDS))
    phase(ctx, figures, "memory", lambda: memory(infra))
    phase(ctx, figures, "storage", lambda: storage(infra))
    phase(ctx, figures, "grow the log", lambda: grow_log(infra, REPLAY_EXTRA))
    infra.stop_services()
    phase(ctx, figures, "replay", lambda: replay.run(infra))
    phase(ctx, figures, "case file", lambda: casefile.run(infra))
    ctx.notes.append(
        f"e2e throughput: {CASES} CaseReported produced straight onto gov.intake.events "
        "with aiokafka (HTTP intake not in the path); latency runs go through HTTP intake.")
    return figures


def phase(ctx: Any, figures: dict[str, Any], name: str,
          measure: Callable[[], dict[str, Any]]) -> None:
    try:
        figures.update(measure())
    except Exception as exc:  # noqa: BLE001 - recorded; the suite's other phases go on
        ctx.notes.append(f"e2e {name} failed: {type(exc).__name__}: {exc}")
        figures.setdefault("e2e_failed_phases", []).append(name)


def throughput(infra: BenchInfra, n: int) -> dict[str, Any]:
    asyncio.run(produce_reports(infra.bootstrap, [f"warm-{uuid.uuid4()}" for _ in range(WARMUP)]))
    infra.wait_settled(WARMUP, timeout=600)
    infra.wait_quiet()
    stack = infra.stack
    assert stack is not None
    urls = {name: stack.url(name) for name in CONSUMERS}
    base = {name: applied(url) for name, url in urls.items()}
    dispatched_before = infra.count(DISPATCHED)
    began = time.monotonic()
    asyncio.run(produce_reports(infra.bootstrap, [f"tp-{uuid.uuid4()}" for _ in range(n)]))
    produced = time.monotonic()
    samples = _sample_until_settled(infra, urls, WARMUP + n)
    done = infra.wait_settled(WARMUP + n, timeout=5)
    elapsed = done - began
    figures: dict[str, Any] = {
        "e2e_cases": n,
        # The rest were merged or queued for review by dedup (settled, but not dispatched).
        "e2e_cases_dispatched": infra.count(DISPATCHED) - dispatched_before,
        "e2e_cases_per_s": round(n / elapsed, 1),
        "e2e_produce_seconds": round(produced - began, 2),
        "e2e_drain_seconds": round(elapsed, 2),
    }
    for name in CONSUMERS:
        figures[f"events_per_s_{name}"] = _rate(samples, name, base[name], began)
    return figures


def grow_log(infra: BenchInfra, n: int) -> dict[str, Any]:
    """`n` more cases through the pipeline, until every consumer is done with them."""
    before = infra.settled()
    asyncio.run(produce_reports(infra.bootstrap, [f"log-{uuid.uuid4()}" for _ in range(n)]))
    infra.wait_settled(before + n, timeout=900)
    infra.wait_quiet()
    return {"replay_extra_cases": n}


DISPATCHED = "SELECT count(*) FROM projections.rm_cases WHERE dispatched_at IS NOT NULL"


def _sample_until_settled(infra: BenchInfra, urls: dict[str, str], total: int,
                          timeout: float = 600) -> list[tuple[float, dict[str, int]]]:
    """Counters every 0.25 s until every report is settled and no counter moves any more."""
    samples: list[tuple[float, dict[str, int]]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples.append((time.monotonic(), {n: applied(u) for n, u in urls.items()}))
        settled = len(samples) > 2 and samples[-1][1] == samples[-3][1]
        if settled and infra.settled() >= total:
            return samples
        time.sleep(0.25)
    raise TimeoutError(f"pipeline did not settle within {timeout}s")


def _rate(samples: list[tuple[float, dict[str, int]]], name: str, base: int,
          began: float) -> float:
    """Events this service applied in the run / time until its counter reached its end."""
    final = samples[-1][1][name]
    reached = next(t for t, counts in samples if counts[name] == final)
    return round((final - base) / max(reached - began, 1e-3), 1)


def offered_load(infra: BenchInfra, rate: int, seconds: float) -> dict[str, Any]:
    quiet_after = infra.wait_quiet()  # starts with nothing queued from the phase before
    # This process too: the load generator and the watch share the cores with the rest.
    processes = [*infra.measured(), Process("load_generator", os.getpid())]
    cpu_before, began = cpu_by_process(processes), time.monotonic()
    watch = Watch(infra.database_url, timeout=120 + seconds * 4)
    sent, http = asyncio.run(_post_on_schedule(infra, rate, seconds, watch.wanted))
    accepted = dict(watch.wanted)
    seen = watch.result()
    cpu = {name: spent - cpu_before.get(name, 0.0)
           for name, spent in cpu_by_process(processes).items()}
    busy = time.monotonic() - began
    to_dispatched = [(_wall(d) - accepted[c]) * 1000 for c, (d, _) in seen.items()
                     if d is not None]
    to_visible = [(v - accepted[c]) * 1000 for c, (_, v) in seen.items()]
    key = f"at_{rate}"
    return {
        f"e2e_offered_{key}": rate,
        f"e2e_quiet_wait_s_{key}": quiet_after,
        f"e2e_requests_{key}": len(sent),
        f"e2e_rejected_{key}": sum(1 for *_, status in sent if status not in (0, 200, 202)),
        f"e2e_failed_{key}": sum(1 for *_, status in sent if status == 0),
        f"e2e_lost_{key}": len(accepted) - len(seen),
        f"e2e_not_dispatched_{key}": len(seen) - len(to_dispatched),  # merged or in review
        f"e2e_p50_ms_{key}": percentile(to_dispatched, 50),
        f"e2e_p95_ms_{key}": percentile(to_dispatched, 95),
        f"e2e_p99_ms_{key}": percentile(to_dispatched, 99),
        f"e2e_visible_p50_ms_{key}": percentile(to_visible, 50),
        f"e2e_visible_p95_ms_{key}": percentile(to_visible, 95),
        f"e2e_visible_p99_ms_{key}": percentile(to_visible, 99),
        f"intake_http_p50_ms_{key}": percentile(http, 50),
        f"intake_http_p99_ms_{key}": percentile(http, 99),
        **_hops(read_hops(infra.bootstrap, accepted), key),
        **_cpu(cpu, len(accepted), busy, key),
    }


def _hops(hops: dict[str, list[float]], key: str) -> dict[str, Any]:
    """Each hop's p50 and p99 (bench/hops.py): where the latency goes."""
    figures: dict[str, Any] = {}
    for name, took in hops.items():
        figures[f"e2e_hop_{name}_p50_ms_{key}"] = percentile(took, 50)
        figures[f"e2e_hop_{name}_p99_ms_{key}"] = percentile(took, 99)
    return figures


def _cpu(cpu: dict[str, float], cases: int, seconds: float, key: str) -> dict[str, Any]:
    """CPU per accepted case by process, from the load's start until every case showed,
    and the cores that kept busy meanwhile (2.0 on the 2-core machine: nothing left).
    `cpu_ms_per_case` is the platform's, without the load generator's."""
    figures: dict[str, Any] = {f"cpu_ms_per_case_{name}_{key}": round(1000 * s / max(cases, 1), 2)
                               for name, s in sorted(cpu.items())}
    platform = sum(s for name, s in cpu.items() if name != "load_generator")
    figures[f"cpu_ms_per_case_{key}"] = round(1000 * platform / max(cases, 1), 2)
    figures[f"cores_busy_{key}"] = round(sum(cpu.values()) / max(seconds, 1e-3), 2)
    return figures


_LOADS_SENT: Counter[int] = Counter()  # offered loads sent so far in this process, by rate


def load_bodies(rate: int, seconds: float) -> list[dict[str, Any]]:
    """The reports of one offered load: the same ones at a rate in every run, so runs are
    compared on the same work, and others when one run offers that rate again (the same
    reports again would be merged into the cases of the first: nothing dispatched)."""
    again = _LOADS_SENT[rate]
    _LOADS_SENT[rate] += 1
    rng = random.Random(rate if again == 0 else f"{rate}:{again}")
    return [{**synthetic_report(rng), "external_ref": f"lat-{rate}-{uuid.uuid4()}"}
            for _ in range(int(rate * seconds))]


async def _post_on_schedule(infra: BenchInfra, rate: int, seconds: float,
                            accepted: dict[str, float],
                            ) -> tuple[list[tuple[str, float, int]], list[float]]:
    """Open loop: request i leaves at start + i/rate. Returns (case id, sent, status) with
    the wall-clock send time (comparable with stored event times), and HTTP durations;
    each accepted case goes into `accepted` (case id -> sent) as its answer arrives.
    aiohttp, not httpx: the load generator shares the two cores with the services, and
    httpx spent about a third of a core at 100 requests/s."""
    headers = {"Authorization": f"Bearer {infra.token('grid_worker', 'bench-gw')}"}
    url = f"{infra.stack.url('intake') if infra.stack else ''}/api/reports"
    results: list[tuple[str, float, int]] = []
    http_ms: list[float] = []
    connector = aiohttp.TCPConnector(limit=200)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=timeout) as session:

        async def post(body: dict[str, Any]) -> None:
            sent, t0 = time.time(), time.perf_counter()
            try:
                async with session.post(url, json=body) as r:
                    answer = await r.json() if r.ok else {}
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):  # overloaded server dropped it
                results.append(("", sent, 0))
                return
            http_ms.append((time.perf_counter() - t0) * 1000)
            results.append((answer.get("case_id", ""), sent, status))
            if status in (200, 202):
                accepted[answer["case_id"]] = sent

        bodies = load_bodies(rate, seconds)
        start = time.perf_counter() + 0.2
        tasks = []
        for i, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(post(body)))
        await asyncio.gather(*tasks)
    return results, http_ms


def _wall(dt: datetime) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


STORES = ("intake", "dedup", "dispatch", "supervision")  # eventsourcing: <name>_events


def storage(infra: BenchInfra) -> dict[str, Any]:
    """Bytes on disk (tables, indexes, TOAST) per case and per stored event, all schemas."""
    size = infra.count(
        "SELECT sum(pg_total_relation_size(t.oid)) FROM pg_class t JOIN pg_namespace n "
        "ON n.oid = t.relnamespace WHERE t.relkind = 'r' AND n.nspname = ANY(%s)",
        list((*STORES, "projections")))
    n = infra.count("SELECT count(*) FROM projections.rm_cases")
    events = sum(infra.count(f'SELECT count(*) FROM "{s}"."{s}_events"') for s in STORES)
    events += infra.count("SELECT count(*) FROM projections.rm_case_events")
    return {"db_bytes_per_case": round(size / max(n, 1)),
            "db_bytes_per_event": round(size / max(events, 1)),
            "db_events_per_case": round(events / max(n, 1), 2)}


def memory(infra: BenchInfra) -> dict[str, float]:
    return {f"mem_peak_mb_{p.label}": peak_rss_mb(p.proc.pid)
            for p in infra.processes() if p.proc is not None and p.proc.poll() is None}
