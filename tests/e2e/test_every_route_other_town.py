"""Every HTTP route of every service, called by every role of another town about a real
case of town A: the answer is 403 or 404, or a list and figures that hold nothing of town
A. The table of expected outcomes must name every route the apps have, so a new route
cannot escape this check unnoticed."""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from fastapi.routing import APIRoute

from govctl.processes import Stack
from services.portal.bootstrap import PortalSettings, create_app
from shared.runtime.auth import ROLES
from shared.runtime.service import create_http_app
from tests.e2e.conftest import LEADER, auth, eventually

pytestmark = pytest.mark.e2e

SERVICES = ("intake", "dedup", "dispatch", "supervision", "projections")
TOWN_A, TOWN_B = "350302001", "350302002"  # 龙桥街道, 凤凰山街道: two towns of one district
UNIT_A = "350302001003015003"  # a unit no other test reports in: nothing to merge with
TOWN_A_PATH = "350300/350302/350302001"
OPERATOR = auth("op-route", "hotline_operator", "350300", "话务员")

# What another town's caller may get from each route:
DENIED = "denied"  # 403 or 404, whatever the role
SCOPED = "scoped"  # refused, or an answer with nothing of town A (lists, figures, stream)
SHARED = "shared"  # city-wide reference or the caller's own submission: no case of A in it
SETTING = "setting"  # city-wide setting: not changed by an empty body (2xx would be a bug)

CASE = "/api/cases/{case_id}"
EXPECTED: dict[str, str] = {
    # intake
    "intake POST /api/reports": SHARED,
    "intake POST /api/channels/inspection": SHARED,
    "intake POST /api/channels/hotline_12345": SHARED,
    "intake POST /api/channels/police": SHARED,
    "intake POST /api/channels/petition": SHARED,
    "intake GET /api/channels/pii-key": SHARED,
    "intake GET /api/reports/unplaced": SCOPED,
    "intake GET /api/reports/stats": SCOPED,
    "intake GET /api/reports/{report_id}": DENIED,
    "intake POST /api/reports/{report_id}/contact/unmask": DENIED,
    "intake POST /api/reports/{report_id}/contact/erase": DENIED,
    "intake POST /api/persons/erase": DENIED,
    "intake POST /api/reports/{report_id}/placement": DENIED,
    "intake GET /api/categories": SHARED,
    "intake POST /api/attachments": SHARED,
    "intake GET /api/reports/{report_id}/attachments/{digest}": DENIED,
    "intake GET /open311/v2/services.{fmt}": SHARED,
    "intake GET /open311/v2/services/{service_code}.{fmt}": SHARED,
    "intake POST /open311/v2/requests.{fmt}": SHARED,
    "intake GET /open311/v2/requests.{fmt}": SCOPED,
    "intake GET /open311/v2/requests/{service_request_id}.{fmt}": DENIED,
    "intake GET /open311/v2/tokens/{token}.{fmt}": DENIED,
    # dedup
    "dedup GET /api/dedup/cases/{case_id}": DENIED,
    "dedup GET /api/dedup/review": SCOPED,
    "dedup POST /api/dedup/review/{report_case_id}/confirm": DENIED,
    "dedup POST /api/dedup/review/{report_case_id}/reject": DENIED,
    "dedup POST /api/dedup/cases/{case_id}/reports/{report_case_id}/split": DENIED,
    # dispatch
    **{f"dispatch {m} {CASE}{p}": DENIED for m, p in (
        ("GET", ""), ("POST", "/sign-for"), ("POST", "/return"), ("POST", "/extension"),
        ("POST", "/handle"), ("POST", "/redispatch"), ("POST", "/arbitrate"),
        ("POST", "/extension/decision"), ("POST", "/urgency"), ("POST", "/close"),
        ("POST", "/co-handling"), ("POST", "/co-handling/part"), ("POST", "/consultations"),
        ("POST", "/consultations/{number}/conclusion"), ("POST", "/whistle"),
        ("POST", "/whistle/report-in"), ("POST", "/whistle/close"), ("POST", "/verify"),
        ("POST", "/evaluate"))},
    "dispatch GET /api/responsibility-list": SHARED,
    "dispatch GET /api/responsibility-list/versions": SHARED,
    "dispatch GET /api/responsibility-list/versions/{version}": SHARED,
    "dispatch PUT /api/responsibility-list": SETTING,
    "dispatch GET /api/responsibility-list/route": SHARED,
    "dispatch GET /api/calendar/arrangements": SHARED,
    "dispatch POST /api/calendar/arrangements": SETTING,
    # supervision
    "supervision GET /api/supervision/cases/{case_id}": DENIED,
    "supervision POST /api/supervision/cases/{case_id}/notices": DENIED,
    "supervision POST /api/supervision/cases/{case_id}/notices/{notice_id}/response": DENIED,
    "supervision GET /api/supervision/cases/{case_id}/file": DENIED,
    "supervision GET /api/supervision/cases/{case_id}/verify": DENIED,
    "supervision GET /api/supervision/cases/{case_id}/archive.html": DENIED,
    "supervision GET /api/supervision/cases/{case_id}/archive.pdf": DENIED,
    "supervision GET /api/supervision/evaluation": SCOPED,
    "supervision GET /api/supervision/notices": SCOPED,
    "supervision PUT /api/supervision/clock": SETTING,
    # projections
    **{f"projections GET /api/{p}": SCOPED for p in (
        "cases", "overdue", "stats/status", "dashboard", "departments", "map", "trends",
        "hotspots", "stream", "departments/{department}/inbox")},
    "projections GET /api/cases/{case_id}": DENIED,
    "projections GET /api/cases/{case_id}/file": DENIED,
    # every service's probes: no case data at all
    **{f"{s} GET {p}": SHARED for s in SERVICES
       for p in ("/internal/alive", "/internal/ready", "/metrics")},
    # portal: the gateway passes the caller's own token on (checked through it below)
    # (no service has a PUT, PATCH or DELETE route on a case: those answer 405)
    **{f"portal {m} /api/{{service}}/{{path:path}}": DENIED for m in ("GET", "POST")},
    **{f"portal {m} /api/{{service}}/{{path:path}}": SHARED for m in ("PUT", "PATCH", "DELETE")},
    "portal GET /auth/identities": SHARED,
    "portal POST /auth/dev-token": SHARED,
    "portal GET /geo/places": SHARED,
    "portal GET /geo/place/{code}": SHARED,
    "portal GET /ref/departments": SHARED,
    "portal GET /vendor/echarts.min.js": SHARED,
    "portal GET /internal/alive": SHARED,
    "portal GET /internal/ready": SHARED,
}

# Valid bodies, so that a refusal comes from the check of the case, not from validation.
BODIES: dict[str, Any] = {
    "/return": {"reason": "不属于本部门职责"}, "/extension": {"days": 3, "reason": "待补材料"},
    "/handle": {"result": "已处理"}, "/redispatch": {"department": "{department}"},
    "/arbitrate": {"department": "{department}", "decision": "由该部门办理"},
    "/extension/decision": {"approved": True}, "/urgency": {"urgency": "urgent", "reason": "急"},
    "/co-handling": {"departments": ["emergency"], "task": "协助"},
    "/co-handling/part": {"part": "已完成"},
    "/consultations": {"subject": "会商", "participants": ["emergency", "居委会"]},
    "/conclusion": {"conclusion": "结论"}, "/whistle": {"departments": ["emergency"],
                                                        "reason": "吹哨报到"},
    "/verify": {"passed": True, "method": "on_site"}, "/evaluate": {"satisfaction": 5},
    "/confirm": {"remark": "同一事件"}, "/reject": {"remark": "不同事件"},
    "/split": {"remark": "拆分"}, "/notices": {"reason": "督办"},
    "/response": {"response": "已整改"}, "/unmask": {"purpose": "回访核实"},
    "/erase": {"basis": "person_request"}, "/placement": {"place_code": UNIT_A},
    "/api/persons/erase": {"phone": "13900002222"},  # town A's caller
    "/api/reports": {"category": "urban.garbage", "description": "垃圾满溢",
                     "unit_code": "350302002001001001"},
    "/auth/dev-token": {"key": "nobody"},
}


def route_keys() -> Iterator[tuple[str, str, str]]:
    """(service, method, path) of every route of every app, included routers walked."""
    for service in SERVICES:
        spec = importlib.import_module(f"services.{service}.bootstrap").SPEC
        for method, path in _walk(create_http_app(spec, cast(Any, None)).routes):
            yield service, method, path
    for method, path in _walk(create_app(PortalSettings()).routes):
        yield "portal", method, path


def _walk(routes: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router, resolved lazily
        if inner is not None:
            yield from _walk(inner.routes, prefix + r.include_context.prefix)
        elif isinstance(r, APIRoute):
            for method in sorted(r.methods or ()):
                yield method, prefix + r.path


def test_the_table_names_every_route() -> None:
    found = {f"{s} {m} {p}" for s, m, p in route_keys()}
    assert sorted(found - EXPECTED.keys()) == [], "routes without an expected outcome"
    assert sorted(EXPECTED.keys() - found) == [], "outcomes of routes that no longer exist"


@pytest.fixture(scope="module")
def town_a(stack: Stack) -> dict[str, str]:
    """A real case of town A with a contact person, dispatched to its department."""
    n = uuid.uuid4().hex[:10]
    body = {"work_order_no": f"GD-A-{n}", "call_time": "2026-03-02T09:05:00+08:00",
            "caller": {"name": "王五", "phone": "13900002222"}, "unit_code": UNIT_A,
            "content": f"龙桥街道小区烧烤油烟 {n}", "hotline_category": "生态环境/大气污染/餐饮油烟"}
    r = httpx.post(f"{stack.url('intake')}/api/channels/hotline_12345", json=body,
                   headers=OPERATOR)
    assert r.status_code == 202, r.text
    report_id = r.json()["report_id"]

    def dispatched() -> dict[str, Any] | None:
        case_id = httpx.get(f"{stack.url('intake')}/api/reports/{report_id}",
                            headers=LEADER).json()["case_id"]
        row = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=LEADER)
        return row.json() if row.status_code == 200 and row.json()["department"] else None

    case = eventually(dispatched, timeout=90)
    assert case["area_path"].startswith(TOWN_A_PATH)
    return {"case_id": case["case_id"], "report_id": report_id,
            "department": case["department"]}


def callers(department: str) -> dict[str, dict[str, str]]:
    """One caller of town B per role (department staff of the case's own department)."""
    return {role: auth(f"b-{role}", role, TOWN_B, f"B {role}",
                       department if role == "department_staff" else None) for role in ROLES}


def fill(path: str, a: dict[str, str]) -> str:
    values = {"case_id": a["case_id"], "report_case_id": a["report_id"],
              "report_id": a["report_id"], "service_request_id": a["report_id"],
              "token": a["report_id"], "department": a["department"], "digest": "0" * 64,
              "notice_id": "1", "number": "1", "version": "1", "fmt": "json",
              "service_code": "urban.streetlight", "code": TOWN_A}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def body_for(path: str, a: dict[str, str]) -> Any:
    key = path if path in BODIES else next((k for k in BODIES if path.endswith(k)), None)
    if key is None:
        return None
    return json.loads(json.dumps(BODIES[key]).replace("{department}", a["department"]))


def markers(a: dict[str, str], scoped: bool) -> list[str]:
    """What would show town A's data: its case and report ids; in lists, its area too."""
    return [a["case_id"], a["report_id"], *([TOWN_A_PATH, UNIT_A] if scoped else [])]


def call(stack: Stack, service: str, method: str, path: str, headers: dict[str, str],
         a: dict[str, str]) -> httpx.Response:
    url = fill(path, a)
    params: dict[str, str] = {}
    if service == "portal" and "{service}" in path:  # through the gateway, to town A's case
        url = {"GET": f"/api/projections/cases/{a['case_id']}/file",
               "POST": f"/api/dispatch/cases/{a['case_id']}/close"}.get(
            method, f"/api/supervision/cases/{a['case_id']}")
    if path.startswith("/open311/"):
        params["api_key"] = headers["Authorization"].split()[1]
    if service == "projections" or path.endswith(("/evaluation", "/notices")):
        params["area"] = TOWN_A_PATH  # asking for town A outright
    setting = EXPECTED[f"{service} {method} {path}"] == SETTING
    if path == "/api/attachments":
        return httpx.post(stack.url(service) + url, headers=headers,
                          files={"file": ("a.png", b"\x89PNG\r\n\x1a\nB-town", "image/png")})
    return httpx.request(method, stack.url(service) + url, headers=headers, params=params,
                         json={} if setting else body_for(path, a), timeout=60)


def check(outcome: str, r: httpx.Response, a: dict[str, str]) -> str | None:
    """What is wrong with this answer, or None."""
    if outcome == DENIED:
        return None if r.status_code in (403, 404) else f"answered {r.status_code}"
    if outcome == SETTING:
        return f"changed a setting with no body ({r.status_code})" if r.is_success else None
    if r.status_code >= 500:
        return f"server error {r.status_code}"
    if outcome == SCOPED and r.status_code in (403, 404):
        return None  # refused (the answer may name the area asked for, nothing more)
    leaked = [m for m in markers(a, outcome == SCOPED) if m in r.text]
    return f"shows town A ({len(leaked)} markers)" if leaked else None


def test_another_towns_callers_get_nothing_of_town_a(stack: Stack,
                                                     town_a: dict[str, str]) -> None:
    wrong: list[str] = []
    for service, method, path in route_keys():
        outcome = EXPECTED[f"{service} {method} {path}"]
        if path.endswith("/stream"):
            continue  # below: a stream is listened to while town A changes
        for role, headers in callers(town_a["department"]).items():
            problem = check(outcome, call(stack, service, method, path, headers, town_a),
                            town_a)
            if problem:
                wrong.append(f"{service} {method} {path} as {role}: {problem}")
    assert wrong == [], "\n".join(wrong)


def listen(stack: Stack, headers: dict[str, str], heard: list[str]) -> None:
    """Collect what the live stream sends this caller for ten seconds."""
    try:
        with httpx.stream("GET", f"{stack.url('projections')}/api/stream",
                          headers={**headers, "accept": "text/event-stream"},
                          timeout=httpx.Timeout(10, read=12)) as r:
            heard.append(str(r.status_code))
            deadline = time.monotonic() + 10
            for chunk in r.iter_text():
                heard.append(chunk)
                if time.monotonic() > deadline:
                    return
    except httpx.ReadTimeout:
        return


def test_the_live_stream_of_another_town_carries_nothing_of_town_a(
        stack: Stack, town_a: dict[str, str]) -> None:
    city: list[str] = []
    town_b: list[str] = []
    threads = [threading.Thread(target=listen, args=(stack, LEADER, city)),
               threading.Thread(target=listen, args=(stack, callers("")["leader"], town_b))]
    for t in threads:
        t.start()
    time.sleep(1)
    checker = auth("sup-route", "supervisor", "350300", "督查员")
    unmask = httpx.post(f"{stack.url('intake')}/api/reports/{town_a['report_id']}"
                        "/contact/unmask", json={"purpose": "回访核实"}, headers=checker)
    assert unmask.status_code == 200  # a change to town A's case while both listen
    eventually(lambda: _in_file(stack, town_a["case_id"], "case.contact_unmasked"))
    for t in threads:
        t.join(15)
    assert town_a["case_id"] in "".join(city)  # the city hears it: the stream works
    assert town_b[:1] == ["200"]
    assert not [m for m in markers(town_a, True) if m in "".join(town_b)]


def _in_file(stack: Stack, case_id: str, event_type: str) -> bool:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file", headers=LEADER)
    return r.status_code == 200 and any(e["event_type"] == event_type
                                        for e in r.json()["events"])
