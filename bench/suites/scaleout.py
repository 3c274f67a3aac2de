"""Scale-out: one consumer group of dedup with 1 and then 3 instances, draining the same
backlog of CaseReported messages (6 partitions). Figures: reports/s of the group, the
growth ratio, and each instance's share. Only dedup runs, so the figure is the group's own.
(The behaviour, exactly once with each instance taking part, is tests/e2e/test_scaleout_dedup.py.)
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

from bench.stack import BenchInfra, applied, produce_reports
from shared.events.topics import INTAKE

CASES = int(os.environ.get("BENCH_SCALEOUT_CASES", "3000"))
SETTLE_SECONDS = 5.0  # after the last instance is ready: the group's rebalance completes

TRACKED = """
SELECT coalesce(sum(position), 0) FROM (
    SELECT max(notification_id) AS position FROM dedup.dedup_tracking
    WHERE application_name LIKE %s GROUP BY application_name) AS partitions
"""


def run(ctx: Any) -> dict[str, Any]:
    infra: BenchInfra = ctx.infra()
    figures: dict[str, Any] = {}
    for instances in (1, 3):
        rate, shares = drain(infra, instances, CASES)
        figures[f"scaleout_dedup_{instances}_instances_reports_per_s"] = rate
        figures[f"scaleout_dedup_{instances}_instances_shares"] = shares
    one = figures["scaleout_dedup_1_instances_reports_per_s"]
    three = figures["scaleout_dedup_3_instances_reports_per_s"]
    figures["scaleout_dedup_growth_3_over_1"] = round(three / one, 2) if one else None
    ctx.notes.append(f"scaleout: dedup alone drains {CASES} CaseReported with 1 and 3 "
                     "instances in one consumer group; on 2 shared cores the growth is bounded "
                     "by CPU, not by partitions.")
    return figures


def drain(infra: BenchInfra, instances: int, n: int) -> tuple[float, list[int]]:
    infra.reset()
    stack = infra.start_services(["dedup"])
    try:
        members = [stack.processes["dedup"]]
        members += [infra.start_instance("dedup", i) for i in range(1, instances)]
        for m in members:
            m.wait_ready()
        time.sleep(SETTLE_SECONDS)
        before = [applied(m.url, INTAKE) for m in members]
        began = time.monotonic()
        asyncio.run(produce_reports(infra.bootstrap, [f"so-{uuid.uuid4()}" for _ in range(n)]))
        deadline = began + 900
        while infra.count(TRACKED, f"{INTAKE}:%") < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"dedup x{instances} did not drain {n} reports")
            time.sleep(0.1)
        elapsed = time.monotonic() - began
        shares = [applied(m.url, INTAKE) - b for m, b in zip(members, before, strict=True)]
        return round(n / elapsed, 1), shares
    finally:
        infra.stop_services()
