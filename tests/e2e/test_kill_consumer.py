"""SIGKILL a consumer service while cases flow: after a restart every case arrives
exactly once (no loss, no doubled effect), whatever batch it died in."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from govctl.load import distinct_reports
from govctl.processes import Stack
from tests.e2e.conftest import GRID_WORKER, LEADER, eventually

pytestmark = pytest.mark.e2e

CASES = 150


def post_all(stack: Stack, refs: list[str], case_ids: list[str]) -> None:
    # Genuinely different problems (category, place, text): the session's other tests
    # report the same garbage text in every grid, which dedup would rightly merge into.
    bodies = distinct_reports(len(refs))
    with httpx.Client(base_url=stack.url("intake"), timeout=30, headers=GRID_WORKER) as client:
        for ref, body in zip(refs, bodies, strict=True):
            r = client.post("/api/reports", json={**body, "external_ref": ref})
            r.raise_for_status()
            case_ids.append(r.json()["case_id"])


def test_sigkill_dedup_mid_flow_loses_and_doubles_nothing(stack: Stack) -> None:
    refs = [f"kill-{uuid.uuid4()}" for _ in range(CASES)]
    case_ids: list[str] = []
    poster = threading.Thread(target=post_all, args=(stack, refs, case_ids))
    poster.start()
    victim = stack.processes["dedup"]
    for _ in range(2):  # twice, while reports keep arriving
        time.sleep(0.7)
        victim.kill()
        time.sleep(0.3)
        victim.start()
        victim.wait_ready()
    poster.join()
    assert len(case_ids) == CASES

    waiting = set(case_ids)

    def all_dispatched() -> bool:
        # One by one (the session's list holds thousands of dispatched cases), each case
        # asked until it is seen dispatched.
        for case_id in sorted(waiting):
            r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=LEADER)
            if r.status_code == 200 and r.json()["status"] == "dispatched":
                waiting.discard(case_id)
        return not waiting

    eventually(all_dispatched, timeout=120, every=1.0)
    with httpx.Client(base_url=stack.url("projections"), timeout=30, headers=LEADER) as client:
        for case_id in case_ids:
            events = client.get(f"/api/cases/{case_id}/file").json()["events"]
            # (Supervision may have alarms too: an earlier test drove its clock ahead.)
            kinds = Counter(e["event_type"] for e in events if e["producer"] != "supervision")
            assert kinds == {"case.reported": 1, "case.registered": 1, "case.dispatched": 1}, (
                case_id, kinds)
            assert len({e["event_id"] for e in events}) == len(events)
            dedup_view = httpx.get(f"{stack.url('dedup')}/api/dedup/cases/{case_id}",
                                   headers=LEADER).json()
            assert len(dedup_view["report_ids"]) == 1
