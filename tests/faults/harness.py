"""Load, faults and the exactly-once audit shared by the fault tests."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from govctl.load import distinct_reports
from govctl.processes import Stack
from tests.e2e.conftest import GRID_WORKER, LEADER, PG_ENV, eventually

CHAIN = ("case.reported", "case.registered", "case.dispatched")


@dataclass
class Load:
    """Reports posted in the background at a steady pace while faults happen."""

    stack: Stack
    count: int
    pace: float = 0.01
    case_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Load:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        threading.Thread(target=self._orchestrate, daemon=True).start()
        return self

    def _orchestrate(self) -> None:
        """What Kubernetes does while the load runs: start again any service that died."""
        assert self.thread is not None
        while self.thread.is_alive():
            for p in self.stack.processes.values():
                if p.proc is not None and p.proc.poll() is not None:
                    p.start()
            time.sleep(1.0)

    def _run(self) -> None:
        tag = uuid.uuid4().hex[:8]
        with httpx.Client(base_url=self.stack.url("intake"), timeout=60,
                          headers=GRID_WORKER) as client:
            for i, body in enumerate(distinct_reports(self.count)):
                body["external_ref"] = f"fault-{tag}-{i}"
                self._post(client, body)
                time.sleep(self.pace)

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> None:
        # The intake service may itself be restarting: a client retries the same report
        # (same external_ref), which intake makes idempotent.
        for _ in range(120):
            try:
                r = client.post("/api/reports", json=body)
                if r.status_code in (200, 202):
                    self.case_ids.append(r.json()["case_id"])
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.errors.append(body["external_ref"])

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join()
        assert not self.errors, f"reports never accepted: {self.errors[:3]}"


@dataclass(frozen=True)
class Audit:
    inputs: int
    effects: int
    duplicates: int
    losses: int
    out_of_order: int


def audit(stack: Stack, case_ids: list[str], timeout: float = 180) -> Audit:
    """Wait until every case is dispatched, then check each file: one of each step, in
    order (by time and by each producer's offsets)."""
    wanted = set(case_ids)

    def dispatched() -> set[str]:
        found: set[str] = set()
        offset = 0
        while True:
            r = httpx.get(f"{stack.url('projections')}/api/cases", headers=LEADER,
                          params={"limit": 500, "offset": offset}, timeout=30)
            items = r.json()["items"]
            found |= {c["case_id"] for c in items if c["status"] != "reported"
                      and c["status"] != "registered"}
            if len(items) < 500:
                return found
            offset += 500

    with contextlib.suppress(AssertionError):  # the audit below counts what is missing
        eventually(lambda: wanted <= dispatched(), timeout=timeout, every=1.0)
    effects = duplicates = out_of_order = 0
    with httpx.Client(base_url=stack.url("projections"), headers=LEADER, timeout=30) as c:
        for case_id in case_ids:
            r = c.get(f"/api/cases/{case_id}/file")
            if r.status_code != 200:
                continue
            events = r.json()["events"]
            kinds = Counter(e["event_type"] for e in events if e["event_type"] in CHAIN)
            if all(kinds[k] >= 1 for k in CHAIN):
                effects += 1
            duplicates += sum(n - 1 for n in kinds.values() if n > 1)
            out_of_order += not in_order(events)
    return Audit(len(case_ids), effects, duplicates, len(wanted) - effects, out_of_order)


def in_order(events: list[dict[str, Any]]) -> bool:
    chain = [e for e in events if e["event_type"] in CHAIN]
    if [e["event_type"] for e in chain] != list(CHAIN)[: len(chain)]:
        return False
    times = [datetime.fromisoformat(e["occurred_at"]) for e in chain]
    return times == sorted(times)


def psql_superuser(sql: str) -> str:
    """Run SQL as the cluster's superuser over its private socket (fault injection only)."""
    state = PG_ENV["PG_STATE_DIR"]
    out = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-h", f"{state}/run", "-p",
         PG_ENV["PG_PORT"], "-d", "governance", "-Atc", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def restart_everything_that_died(stack: Stack) -> None:
    """What an orchestrator does: restart any service process that exited."""
    for p in stack.processes.values():
        if p.proc is not None and p.proc.poll() is not None:
            p.start()
    for p in stack.processes.values():
        p.wait_ready(timeout=120)


def during(load: Load, *faults: Callable[[], None], gap: float = 1.0) -> None:
    for fault in faults:
        time.sleep(gap)
        fault()
