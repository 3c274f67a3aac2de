"""The end-to-end stack: a real Kafka broker and a real PostgreSQL cluster of their own
(fresh for every session, on ports apart from `make run`), and the five service
processes started the way `govctl run` starts them."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from govctl.processes import REPO, Stack
from shared.runtime.auth import issue_token

# E2E_SLOT=N gives a session its own broker, database and ports, so several sessions
# (parallel workers, a developer beside CI) never share state.
SLOT = int(os.environ.get("E2E_SLOT", "0"))
KAFKA_ENV = {"KAFKA_STATE_DIR": str(REPO / ".local" / f"kafka-test{SLOT}"),
             "KAFKA_PORT": str(29092 + 10 * SLOT), "KAFKA_CONTROLLER_PORT": str(29093 + 10 * SLOT)}
PG_ENV = {"PG_STATE_DIR": str(REPO / ".local" / f"pg-test{SLOT}"), "PG_PORT": str(25432 + SLOT)}
AUTH_SECRET = secrets.token_hex(32)  # this session's signing key, shared with the services
TEST_PORTS = {name: 8201 + 100 * SLOT + i for i, name in
              enumerate(("intake", "dedup", "dispatch", "supervision", "projections", "portal"))}


def eventually(check: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    """Poll until `check` returns something truthy; the last failure explains a timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout}s; last: {last!r}")


def auth(sub: str, role: str, place: str = "350300", name: str = "",
         department: str | None = None) -> dict[str, str]:
    """Headers of a signed-in user (place: an area code; the city by default)."""
    token = issue_token(sub, role, place, name, department, key=AUTH_SECRET)
    return {"Authorization": f"Bearer {token}"}


GRID_WORKER = auth("gw-0001", "grid_worker", "350300", "林网格")
LEADER = auth("leader-1", "leader", "350300", "市领导")
ADMIN = auth("admin-1", "administrator", "350300", "管理员")
REVIEWER = auth("dsp-0100", "dispatcher", "350300", "筛重派单员")


def keep_apart(stack: Stack, case_id: str) -> None:
    """Test reports may read alike and sit near one another: dedup may rightly be unsure
    and queue one for a person (人工筛重), who says it is a problem of its own."""
    queue = httpx.get(f"{stack.url('dedup')}/api/dedup/review", headers=REVIEWER,
                      params={"limit": 500}, timeout=120).json()["items"]
    if any(item["report_case_id"] == case_id for item in queue):
        httpx.post(f"{stack.url('dedup')}/api/dedup/review/{case_id}/reject",
                   headers=REVIEWER, json={"remark": "不同问题"}, timeout=120
                   ).raise_for_status()


GROUPS = ("intake", "dedup", "dispatch", "supervision", "projections")


def wait_quiet(bootstrap: str, timeout: float = 900) -> None:
    """Block until every service has consumed everything on its topics: a heavy test calls
    it before returning so the next test starts on a quiet platform."""
    import asyncio

    from shared.runtime.kafka import consumer_lag

    eventually(lambda: asyncio.run(consumer_lag(bootstrap, GROUPS)) == 0, timeout=timeout,
               every=2)
