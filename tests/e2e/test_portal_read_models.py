"""The same city through a grid worker's, a town's and the city's eyes, through the portal's
one origin: rolled-up numbers that match what was reported, and no case outside each
scope. Then the projection is rebuilt from the event log beside the live one (by two worker
processes, each with its share of the partitions), and the two are compared table by
table."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from govctl.processes import REPO, Stack
from tests.e2e.conftest import auth, eventually, wait_quiet

pytestmark = pytest.mark.e2e

CITY = "350300"
TOWN_A, TOWN_B = "350302001", "350302002"
GRID_A1, GRID_A2, GRID_B1 = "350302001001001", "350302001003015", "350302002001001"
CITY_LEADER = auth("l-city", "leader", CITY, "市领导")
TOWN_A_CADRE = auth("l-town-a", "leader", TOWN_A, "龙桥街道干部")
TOWN_B_CADRE = auth("l-town-b", "leader", TOWN_B, "凤凰山街道干部")
WORKER_A1 = auth("gw-a1", "grid_worker", GRID_A1, "林网格")
DISPATCHER = auth("dsp-1", "dispatcher", CITY, "派单员")
# (grid, unit suffix, category, description): different places and problems, so dedup
# keeps every one a case of its own.
PLAN = [
    (GRID_A1, "001", "urban.garbage", "东门垃圾桶满溢两天无人清运，气味很大"),
    (GRID_A1, "002", "safety.gas", "二单元楼道闻到明显燃气味，持续一上午"),
    (GRID_A1, "001", "fire.blocked_exit", "消防通道被三辆私家车长期占用"),
    (GRID_A2, "001", "urban.streetlight", "河边步道路灯连续一周不亮"),
    (GRID_A2, "002", "dispute.labour", "装修工人被拖欠两个月工资，老板失联"),
    (GRID_B1, "001", "environment.noise", "工地夜间十一点后仍在打桩施工"),
    (GRID_B1, "002", "market.price", "药店口罩一天涨价三倍"),
]


def portal(stack: Stack, service: str, path: str, who: dict[str, str],
           **params: Any) -> httpx.Response:
    return httpx.get(f"{stack.url('portal')}/api/{service}{path}", headers=who, params=params,
                     timeout=10)


def totals(stack: Stack, who: dict[str, str], area: str | None = None) -> dict[str, Any]:
    params = {"area": area} if area else {}
    r = portal(stack, "projections", "/dashboard", who, **params)
    assert r.status_code == 200, r.text
    return r.json()


def report_all(stack: Stack) -> dict[str, str]:
    """case id -> grid, reported by each grid's own worker through the portal."""
    made: dict[str, str] = {}
    for grid, unit, category, text in PLAN:
        worker = auth(f"gw-{grid}", "grid_worker", grid, "网格员")
        r = httpx.post(f"{stack.url('portal')}/api/intake/reports", headers=worker, timeout=10,
                       json={"external_ref": f"scope-{uuid.uuid4()}", "category": category,
                             "description": text, "unit_code": grid + unit})
        assert r.status_code == 202, r.text
        made[r.json()["case_id"]] = grid
    return made


def settled(stack: Stack, made: dict[str, str]) -> bool:
    for case_id in made:
        r = portal(stack, "projections", f"/cases/{case_id}", CITY_LEADER)
        if r.status_code != 200 or r.json()["status"] != "dispatched":
            return False
    return True


def delta(after: dict[str, Any], before: dict[str, Any], key: str) -> int:
    return int(after["totals"][key]) - int(before["totals"][key])


def test_one_city_through_three_pairs_of_eyes(stack: Stack) -> None:
    before = {name: totals(stack, who) for name, who in
              (("city", CITY_LEADER), ("town_a", TOWN_A_CADRE), ("town_b", TOWN_B_CADRE),
               ("grid", WORKER_A1))}
    made = report_all(stack)
    eventually(lambda: settled(stack, made), timeout=90)
    after = {name: totals(stack, who) for name, who in
             (("city", CITY_LEADER), ("town_a", TOWN_A_CADRE), ("town_b", TOWN_B_CADRE),
              ("grid", WORKER_A1))}

    # Rolled up: a grid's cases count in its town and in the city, once each.
    assert delta(after["grid"], before["grid"], "total") == 3
    assert delta(after["town_a"], before["town_a"], "total") == 5
    assert delta(after["town_b"], before["town_b"], "total") == 2
    assert delta(after["city"], before["city"], "total") == 7
    assert delta(after["city"], before["city"], "open") == 7
    assert after["town_a"]["area"] == "350300/350302/350302001"
    assert after["town_a"]["by_category"].get("safety.gas", 0) >= 1
    children = {c["code"]: c["total"] for c in after["town_a"]["children"]}
    assert set(children) <= {"350302001001", "350302001002", "350302001003"}
    assert sum(children.values()) == after["town_a"]["totals"]["total"]

    # The grid map of the town: the two grids carry their cases.
    grids = {c["code"]: c["total"] for c in
             portal(stack, "projections", "/map", TOWN_A_CADRE, level="grid").json()}
    assert grids[GRID_A1] >= 3 and grids[GRID_A2] >= 2 and GRID_B1 not in grids

    # No case outside each scope: lists, single cases and files.
    for who, scope in ((WORKER_A1, GRID_A1), (TOWN_A_CADRE, TOWN_A), (TOWN_B_CADRE, TOWN_B)):
        listed = portal(stack, "projections", "/cases", who, limit=500).json()
        assert listed["total"] == len(listed["items"]) or listed["total"] > 500
        assert all(f"/{scope}" in item["area_path"] for item in listed["items"])
        for case_id, grid in made.items():
            r = portal(stack, "projections", f"/cases/{case_id}/file", who)
            assert r.status_code == (200 if grid.startswith(scope) else 404), (scope, grid)
    # Asking for a wider or another area never widens the view.
    # (Alarm counters may move in between: earlier tests leave the driven clock days ahead.)
    steady = ("warned", "overdue", "escalated")
    widened = totals(stack, TOWN_A_CADRE, CITY)["totals"]
    assert {k: v for k, v in widened.items() if k not in steady} == \
        {k: v for k, v in after["town_a"]["totals"].items() if k not in steady}
    assert portal(stack, "projections", "/dashboard", TOWN_A_CADRE,
                  area=f"350300/350302/{TOWN_B}").status_code == 404
    assert portal(stack, "projections", "/cases", TOWN_A_CADRE,
                  area=f"350300/350302/{TOWN_B}").json()["total"] == 0

    # A department's staff see their own department's cases and no area figures.
    staff = auth("um-1", "department_staff", CITY, "城管经办人", department="urban_mgmt")
    mine = portal(stack, "projections", "/cases", staff, limit=500).json()["items"]
    assert mine and {c["department"] for c in mine} == {"urban_mgmt"}
    assert portal(stack, "projections", "/dashboard", staff).status_code == 403

    # Walk town A's garbage case to closed: the closure rolls up too.
    garbage = next(c for c, g in made.items() if g == GRID_A1
                   and portal(stack, "projections", f"/cases/{c}", CITY_LEADER
                              ).json()["category"] == "urban.garbage")
    walk_to_closed(stack, garbage)
    eventually(lambda: totals(stack, TOWN_A_CADRE)["totals"]["closed"]
               == before["town_a"]["totals"]["closed"] + 1)
    city_now = totals(stack, CITY_LEADER)
    assert delta(city_now, before["city"], "closed") == 1
    assert delta(city_now, before["city"], "open") == 6
    board = {d["department"]: d for d in city_now["departments"]}
    assert board["urban_mgmt"]["closed"] >= 1 and board["urban_mgmt"]["closure_rate"] > 0


def walk_to_closed(stack: Stack, case_id: str) -> None:
    dept = portal(stack, "projections", f"/cases/{case_id}", CITY_LEADER).json()["department"]
    staff = auth(f"s-{dept}", "department_staff", CITY, "经办人", department=dept)
    base = f"{stack.url('portal')}/api/dispatch/cases/{case_id}"
    steps = [("sign-for", staff, None), ("handle", staff, {"result": "已清运"}),
             ("verify", WORKER_A1, {"passed": True, "method": "on_site"}),
             ("close", DISPATCHER, None)]
    for step, who, body in steps:
        r = httpx.post(f"{base}/{step}", headers=who, json=body, timeout=10)
        assert r.is_success, (step, r.status_code, r.text)


def test_a_rebuilt_projection_equals_the_live_one(stack: Stack, kafka: str) -> None:
    env = {**os.environ, **stack.env, "GOV_LOG_JSON": "false"}
    # Quiet first: every service has consumed everything produced so far.
    wait_quiet(kafka)
    eventually(lambda: _stable_count(stack), timeout=60, every=1.0)
    # One worker keeps the case rows in memory and writes them at the end (small polls:
    # a case's events arrive in many of them); two workers hold their cases instead.
    for workers, batch in ((1, "50"), (2, "500")):
        rebuilt = subprocess.run(
            [sys.executable, "-m", "services.projections", "rebuild",
             "--target", "projections-rebuilt", "--batch", batch, "--workers", str(workers)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "rebuilt projections-rebuilt" in rebuilt.stdout
        assert " 0 messages" not in rebuilt.stdout, "nothing to rebuild: run the module whole"
        compared = subprocess.run(
            [sys.executable, "-m", "services.projections", "compare", "projections-rebuilt"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert compared.returncode == 0, rebuilt.stdout + compared.stdout + compared.stderr
        assert "differs" not in compared.stdout and compared.stdout.count("equal") == 5
    # In place, the live service refuses to have its tables dropped under it.
    refused = subprocess.run(
        [sys.executable, "-m", "services.projections", "rebuild"], cwd=REPO, timeout=60,
        env={**env, "GOV_HTTP_PORT": str(stack.ports["projections"])},
        capture_output=True, text=True)
    assert refused.returncode == 2 and "stop it first" in refused.stdout


_last: list[int] = []


def _stable_count(stack: Stack) -> bool:
    total = totals(stack, CITY_LEADER)["totals"]["total"]
    events = len(portal(stack, "projections", "/cases", CITY_LEADER, limit=500).json()["items"])
    _last.append(total * 1000 + events)
    return len(_last) >= 3 and len(set(_last[-3:])) == 1
