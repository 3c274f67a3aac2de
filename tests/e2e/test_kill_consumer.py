"""SIGKILL a consumer service while cases flow: after a restart every case arrives
exactly once (no loss, no doubled effect), whatever batch it died in."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from govctl.load import distinct_reports
from govctl.processes import Stack
from tests.e2e.conftest import GRID_WORKER
from tests.faults.harness import audit

pytestmark = pytest.mark.e2e

CASES = 150


def post_all(stack: Stack, refs: list[str], case_ids: list[str]) -> None:
    # Problems of their own (category, unit, text): the session's other tests report the
    # same garbage text in every grid, which dedup would rightly merge these into.
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

    # Exactly one effect per report, merge-aware: a report dedup merged into another of
    # these cases (two problems of related categories can share a unit) counts once there.
    figures = audit(stack, case_ids, timeout=180)
    assert (figures.effects, figures.duplicates, figures.losses, figures.out_of_order) == (
        CASES, 0, 0, 0), figures
