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
from typing import Any

import httpx

from govctl.load import distinct_reports
from govctl.processes import Stack
from tests.e2e.conftest import GRID_WORKER, LEADER, PG_ENV, eventually

CHAIN = ("case.reported", "case.registered", "case.dispatched")


_posted = {"reports": 0}  # this session's reports so far, over every load


def next_reports(count: int) -> int:
    """Where this load's reports start: after every earlier load's of the session, so the
    same problem is never reported twice by two tests (dedup would rightly merge them)."""
    start = _posted["reports"]
    _posted["reports"] += count
    return start


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
            for i, body in enumerate(distinct_reports(self.count, next_reports(self.count))):
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


def audit(stack: Stack, case_ids: list[str], timeout: float = 300) -> Audit:
    """Wait until every report's case is dispatched, then check each case file.

    A report may be merged into another case (duplicate detection): it then resolves to
    that case, whose file holds its reported event. So an effect is "the report's case was
    registered and dispatched exactly once", and the order checked is registered before
    dispatched, each after the case's first report."""
    with httpx.Client(base_url=stack.url("projections"), headers=LEADER, timeout=60) as c:
        def resolve() -> dict[str, str]:
            found: dict[str, str] = {}
            for case_id in case_ids:
                r = c.get(f"/api/cases/{case_id}")
                if r.status_code == 200 and r.json()["status"] not in WAITING:
                    found[case_id] = r.json()["case_id"]
                    statuses[r.json()["case_id"]] = r.json()["status"]
            return found

        resolved: dict[str, str] = {}
        statuses: dict[str, str] = {}
        with contextlib.suppress(AssertionError):  # the audit below counts what is missing
            resolved = eventually(lambda: (lambda f: f if len(f) == len(case_ids) else None)(
                resolve()), timeout=timeout, every=2.0)
        if not resolved:
            resolved = resolve()
        duplicates = out_of_order = 0
        complete: set[str] = set()
        for primary in set(resolved.values()):
            events = c.get(f"/api/cases/{primary}/file").json()["events"]
            kinds = Counter(e["event_type"] for e in events if e["event_type"] in CHAIN)
            duplicates += sum(kinds[k] - 1 for k in CHAIN[1:] if kinds[k] > 1)
            out_of_order += not in_order(events)
            in_review = statuses.get(primary) == "in_review" and [
                e["event_type"] for e in events].count("case.review_queued") == 1
            if all(kinds[k] >= 1 for k in CHAIN) or in_review:
                complete.add(primary)  # decided: a dispatched case, or waiting for a person
    effects = sum(1 for p in resolved.values() if p in complete)
    return Audit(len(case_ids), effects, duplicates, len(case_ids) - effects, out_of_order)


# Not yet decided. A report in the review queue (in_review) is decided: it waits for a
# person, which is its one effect.
WAITING = ("reported", "registered")


def in_order(events: list[dict[str, Any]]) -> bool:
    kinds = [e["event_type"] for e in events if e["event_type"] in CHAIN]
    if not kinds or kinds[0] != "case.reported":
        return False
    if "case.registered" in kinds and "case.dispatched" in kinds:
        return kinds.index("case.registered") < kinds.index("case.dispatched")
    return True


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
