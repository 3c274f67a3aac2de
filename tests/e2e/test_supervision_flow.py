"""Supervision end to end over the real broker and PostgreSQL: alarms on a driven clock that
survive a restart of the service, notices (督办) with their rules, the hash-chained case
archive (a changed byte in the database is found at its entry, by the API and the CLI),
time travel at three moments, the printable archive, and evaluation on a scripted
scenario against hand-computed figures."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from govctl.processes import REPO, Stack
from shared.places import load_demo_registry
from shared.places.model import Level
from tests.e2e.conftest import ADMIN, GRID_WORKER, LEADER, auth, eventually, keep_apart

pytestmark = pytest.mark.e2e

SUPERVISOR = auth("sv-0001", "supervisor", "350300", "效能办督查员")
OUTSIDER = auth("sv-0002", "supervisor", "350322", "别县督查员")  # the county, elsewhere
CHECKER = auth("gw-0101", "grid_worker", "350300", "陈网格")
DISPATCHER = auth("dsp-0101", "dispatcher", "350300", "派单员")
ARCHIVE_TABLE = "supervision.supervision_events"
ALARM_KINDS = ["case.warned", "case.overdue", "case.reminded", "case.escalated"]


def staff(department: str) -> dict[str, str]:
    return auth(f"staff-{department}", "department_staff", "350300", "经办人",
                department=department)


def _spots() -> Iterator[tuple[float, float]]:
    """Centres of grids of district 350302, far apart: no report here is a duplicate of
    another (dedup merges nearby reports of one category)."""
    grids = [g for g in load_demo_registry().by_level(Level.GRID) if g.code[:6] == "350302"]
    for grid in itertools.cycle(grids[::4]):
        ring = grid.geometry.coordinates[0]
        xs, ys = [x for x, _ in ring], [y for _, y in ring]
        yield (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


SPOTS = _spots()
CATEGORIES = itertools.cycle(["urban.garbage", "urban.street_vendor", "urban.road_damage",
                              "urban.streetlight", "urban.graffiti", "urban.bulky_item"])


def new_case(stack: Stack) -> tuple[str, str]:
    """Report a problem and wait until supervision watches it; (case id, department)."""
    lon, lat = next(SPOTS)
    r = httpx.post(timeout=120, url=f"{stack.url('intake')}/api/reports", headers=GRID_WORKER, json={
        "external_ref": f"sv-{uuid.uuid4()}", "category": next(CATEGORIES),
        "title": "督查测试", "description": f"督查端到端测试 {uuid.uuid4().hex[:8]}",
        "location": {"lon": lon, "lat": lat}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    watch = eventually(lambda: watched(stack, case_id))
    return case_id, watch["department"]


def watched(stack: Stack, case_id: str) -> dict[str, Any] | None:
    watch = watch_of(stack, case_id)
    if watch is None:
        keep_apart(stack, case_id)
    return watch


def watch_of(stack: Stack, case_id: str) -> dict[str, Any] | None:
    r = httpx.get(timeout=120, url=f"{stack.url('supervision')}/api/supervision/cases/{case_id}",
                  headers=LEADER)
    return r.json() if r.status_code == 200 else None


def act(stack: Stack, case_id: str, step: str, who: dict[str, str],
        body: dict[str, object] | None = None) -> None:
    r = httpx.post(timeout=120, url=f"{stack.url('dispatch')}/api/cases/{case_id}/{step}", json=body,
                   headers=who)
    assert r.is_success, (step, r.status_code, r.text)


def walk_to_closed(stack: Stack, case_id: str, department: str, satisfaction: int = 5,
                   reopen: bool = False) -> None:
    who = staff(department)
    act(stack, case_id, "sign-for", who)
    act(stack, case_id, "handle", who, {"result": "已处置"})
    if reopen:
        act(stack, case_id, "verify", CHECKER, {"passed": False, "method": "on_site",
                                                "remark": "现场仍未整改"})
        act(stack, case_id, "handle", who, {"result": "已彻底处置"})
    act(stack, case_id, "verify", CHECKER, {"passed": True, "method": "call_back",
                                            "satisfaction": satisfaction})
    act(stack, case_id, "close", DISPATCHER)


def sv(stack: Stack, path: str) -> str:
    return f"{stack.url('supervision')}/api/supervision{path}"


def archive_kinds(stack: Stack, case_id: str) -> list[str]:
    r = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"), headers=SUPERVISOR)
    return [e["event_type"] for e in r.json()["entries"]] if r.status_code == 200 else []


def set_clock(stack: Stack, moment: datetime) -> int:
    """Move the driven clock (never backwards) and return how many alarms fired."""
    r = httpx.put(timeout=120, url=sv(stack, "/clock"), json={"now": moment.isoformat()}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return int(r.json()["fired"])


def clock_now(stack: Stack) -> datetime:
    r = httpx.put(timeout=120, url=sv(stack, "/clock"), json={"now": "2000-01-01T00:00:00Z"}, headers=ADMIN)
    return datetime.fromisoformat(r.json()["now"])


def restart_supervision(stack: Stack) -> None:
    process = stack.processes["supervision"]
    process.stop()
    process.start()
    process.wait_ready()


@pytest.fixture(scope="module", autouse=True)
def present_clock_afterwards(stack: Stack) -> Iterator[None]:
    """These tests leave supervision's driven clock days ahead: a restart sets it back to
    the present, so that a test run after them (in any order) does not see every new case
    overdue at once."""
    yield
    restart_supervision(stack)


def test_alarms_fire_once_each_across_a_restart_of_the_service(stack: Stack) -> None:
    # The driven clock lives in the process: a restart sets it back to the present, which
    # earlier tests may have left days ahead (it never moves backwards otherwise).
    restart_supervision(stack)
    case_id, _ = new_case(stack)
    watch = eventually(lambda: watch_of(stack, case_id))
    sign_by = datetime.fromisoformat(watch["deadlines"]["sign"])
    handle_by = datetime.fromisoformat(watch["deadlines"]["handle"])
    # The sign deadline passes: its warning and overdue fire (scheduled before the restart).
    set_clock(stack, sign_by)
    eventually(lambda: archive_kinds(stack, case_id).count("case.overdue") == 1)

    restart_supervision(stack)  # timers are rebuilt from the event log; the clock restarts
    set_clock(stack, handle_by + timedelta(days=7))

    def supervised() -> list[str]:
        kinds = [k for k in archive_kinds(stack, case_id) if k in ALARM_KINDS]
        return kinds if len(kinds) >= 8 else []

    kinds = eventually(supervised)
    # Each deadline (sign, handle): warned, overdue, reminded, escalated, exactly once.
    assert sorted(kinds) == sorted(ALARM_KINDS * 2)
    file = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"), headers=SUPERVISOR).json()
    levels = {(a["kind"], a["level"]) for a in file["state"]["alarms"]}
    assert levels == {(k, lv) for k in ("sign", "handle")
                      for lv in ("warned", "overdue", "reminded", "escalated")}
    # Nothing fires twice for this case (other cases of the session may have alarms due).
    set_clock(stack, handle_by + timedelta(days=30))
    time.sleep(2)
    assert sorted(k for k in archive_kinds(stack, case_id) if k in ALARM_KINDS) == \
        sorted(ALARM_KINDS * 2)


def test_notices_need_a_case_in_the_supervisors_area_that_is_still_open(stack: Stack) -> None:
    case_id, department = new_case(stack)
    notices = sv(stack, f"/cases/{case_id}/notices")
    body = {"reason": "群众多次反映，请说明办理进展"}
    assert httpx.post(timeout=120, url=sv(stack, f"/cases/{uuid.uuid4()}/notices"), json=body,
                      headers=SUPERVISOR).status_code == 404
    assert httpx.post(timeout=120, url=notices, json=body, headers=OUTSIDER).status_code == 403
    assert httpx.post(timeout=120, url=notices, json=body, headers=LEADER).status_code == 403  # not a supervisor
    assert httpx.post(timeout=120, url=notices, json={"reason": ""}, headers=SUPERVISOR).status_code == 422

    first = httpx.post(timeout=120, url=notices, json=body, headers=SUPERVISOR)
    assert first.status_code == 201, first.text
    respond_by = clock_now(stack) + timedelta(days=2)
    second = httpx.post(timeout=120, url=notices, headers=SUPERVISOR, json={
        "reason": "请今日答复", "respond_by": respond_by.isoformat()}).json()

    answer = sv(stack, f"/cases/{case_id}/notices/{first.json()['notice_id']}/response")
    assert httpx.post(timeout=120, url=answer, json={"response": "不归我们"},
                      headers=staff("police")).status_code in (403, 409)
    ok = httpx.post(timeout=120, url=answer, json={"response": "已安排人员现场处置"}, headers=staff(department))
    assert ok.status_code == 200, ok.text
    again = httpx.post(timeout=120, url=answer, json={"response": "again"}, headers=staff(department))
    assert again.status_code == 409 and again.json()["rule"] == "notice_answered"

    # The unanswered notice becomes overdue once its deadline passes on the driven clock.
    set_clock(stack, datetime.fromisoformat(second["respond_by"]) + timedelta(minutes=1))

    def notice_states() -> dict[str, Any] | None:
        state = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"), headers=SUPERVISOR).json()
        found = state["state"]["notices"]
        return found if found.get(second["notice_id"], {}).get("overdue") else None

    found = eventually(notice_states)
    assert found["1"]["on_time"] is True and found["1"]["overdue"] is False
    assert found["1"]["issued_by"]["id"] == "sv-0001"

    walk_to_closed(stack, case_id, department)
    eventually(lambda: "case.closed" in archive_kinds(stack, case_id))
    closed = httpx.post(timeout=120, url=notices, json=body, headers=SUPERVISOR)
    assert closed.status_code == 409 and closed.json()["rule"] == "case_closed"


def stored_archive(conn: psycopg.Connection[Any], case_id: str) -> list[tuple[int, bytes]]:
    from services.supervision.archive import archive_id

    rows = conn.execute(f"SELECT originator_version, state FROM {ARCHIVE_TABLE} WHERE "
                        "originator_id = %s ORDER BY originator_version",
                        (archive_id(uuid.UUID(case_id)),)).fetchall()
    return [(int(v), bytes(s)) for v, s in rows]


def verify_cli(postgres_url: str, case_id: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": postgres_url}
    return subprocess.run([sys.executable, "-m", "services.supervision", "verify", case_id],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_a_changed_byte_in_any_stored_event_breaks_the_chain_at_that_event(
        stack: Stack, postgres_url: str) -> None:
    case_id, department = new_case(stack)
    walk_to_closed(stack, case_id, department)
    eventually(lambda: "case.closed" in archive_kinds(stack, case_id))
    verify = sv(stack, f"/cases/{case_id}/verify")
    assert httpx.get(timeout=120, url=verify, headers=SUPERVISOR).json()["ok"] is True
    assert verify_cli(postgres_url, case_id).returncode == 0

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        stored = stored_archive(conn, case_id)
        assert len(stored) >= 7
        # The service role cannot rewrite or remove stored events.
        for sql in (f"UPDATE {ARCHIVE_TABLE} SET state = state WHERE originator_version = 1",
                    f"DELETE FROM {ARCHIVE_TABLE} WHERE originator_version = 1",
                    f"TRUNCATE {ARCHIVE_TABLE}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(sql)
        # An intruder with the owner's DDL rights switches the guard off and flips one byte.
        conn.execute(f"ALTER TABLE {ARCHIVE_TABLE} DISABLE TRIGGER append_only")
        try:
            for version, state in stored:
                for position in sorted({0, len(state) // 2, len(state) - 2}):
                    flip(conn, case_id, version, position)
                    report = httpx.get(timeout=120, url=verify, headers=SUPERVISOR).json()
                    assert not report["ok"], (version, position)
                    assert report["first_broken"]["broken_at"] == version, report
                    restore(conn, case_id, version, state)
            flip(conn, case_id, stored[-1][0], len(stored[-1][1]) // 3)
            cli = verify_cli(postgres_url, case_id)
            assert cli.returncode == 1 and f"entry {stored[-1][0]}:" in cli.stderr
            # Every start of the application (the CLI's too) arms the guard again.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                restore(conn, case_id, stored[-1][0], stored[-1][1])
            conn.execute(f"ALTER TABLE {ARCHIVE_TABLE} DISABLE TRIGGER append_only")
            restore(conn, case_id, stored[-1][0], stored[-1][1])
        finally:
            conn.execute(f"ALTER TABLE {ARCHIVE_TABLE} ENABLE TRIGGER append_only")
    assert httpx.get(timeout=120, url=verify, headers=SUPERVISOR).json()["ok"] is True


def flip(conn: psycopg.Connection[Any], case_id: str, version: int, position: int) -> None:
    from services.supervision.archive import archive_id

    conn.execute(f"UPDATE {ARCHIVE_TABLE} SET state = set_byte(state, %s, "
                 "get_byte(state, %s) # 1) WHERE originator_id = %s AND originator_version = %s",
                 (position, position, archive_id(uuid.UUID(case_id)), version))


def restore(conn: psycopg.Connection[Any], case_id: str, version: int, state: bytes) -> None:
    from services.supervision.archive import archive_id

    conn.execute(f"UPDATE {ARCHIVE_TABLE} SET state = %s WHERE originator_id = %s AND "
                 "originator_version = %s", (state, archive_id(uuid.UUID(case_id)), version))


def test_time_travel_returns_the_case_as_it_stood_at_three_moments(stack: Stack) -> None:
    case_id, department = new_case(stack)
    walk_to_closed(stack, case_id, department, reopen=True)
    eventually(lambda: "case.closed" in archive_kinds(stack, case_id))
    entries = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"), headers=SUPERVISOR).json()[
        "entries"]
    moment = {e["event_type"]: e["occurred_at"] for e in reversed(entries)}  # first of each

    def state_at(at: str) -> dict[str, Any]:
        r = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"), params={"as_of": at},
                      headers=SUPERVISOR)
        assert r.status_code == 200, r.text
        return r.json()["state"]

    dispatched = state_at(moment["case.dispatched"])
    assert dispatched["status"] == "dispatched" and dispatched["signed_at"] is None
    assert dispatched["department"] == department
    reopened = state_at(moment["case.reopened"])
    assert reopened["status"] == "signed_for" and reopened["reopen_count"] == 1
    assert [v["passed"] for v in reopened["verifications"]] == [False]
    closed = state_at(moment["case.closed"])
    assert closed["status"] == "closed" and closed["on_time"] is True
    assert [v["passed"] for v in closed["verifications"]] == [False, True]
    before = (datetime.fromisoformat(moment["case.reported"]) - timedelta(hours=1)).isoformat()
    assert httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"), params={"as_of": before},
                     headers=SUPERVISOR).status_code == 404
    assert httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/file"),
                     headers=OUTSIDER).status_code == 403


def test_the_archive_prints_as_html_and_pdf(stack: Stack) -> None:
    case_id, department = new_case(stack)
    walk_to_closed(stack, case_id, department)
    eventually(lambda: "case.closed" in archive_kinds(stack, case_id))
    page = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/archive.html"), headers=SUPERVISOR)
    assert page.status_code == 200 and case_id in page.text
    assert "一件一档" in page.text and "结案 Closed" in page.text and "完整 intact" in page.text
    pdf = httpx.get(timeout=120, url=sv(stack, f"/cases/{case_id}/archive.pdf"),
                    headers=SUPERVISOR)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_evaluation_of_a_scripted_scenario_equals_the_hand_computed_figures(
        stack: Stack) -> None:
    """Three cases handled within their limits: one closed at once (satisfaction 5), one
    reopened once before closing (3), one closed (4). Scoped to cases dispatched during
    this test, by area at city level:
    response 3/3, on-time closure 3/3, resolution 3/3, reopen 1/3, satisfaction 2/3, no
    overrun: score = 100 × (.15 + .30 + .20 + .25×2/3 + .10×2/3) = 88.33."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    cases = []
    for satisfaction, reopen in ((5, False), (3, True), (4, False)):
        case_id, department = new_case(stack)
        walk_to_closed(stack, case_id, department, satisfaction, reopen)
        cases.append(case_id)
    for case_id in cases:
        eventually(lambda c=case_id: "case.closed" in archive_kinds(stack, c))

    r = httpx.get(timeout=120, url=sv(stack, "/evaluation"), headers=SUPERVISOR, params={
        "by": "area", "level": 1, "since": since.isoformat(),
        "until": datetime.now(UTC).isoformat()})
    assert r.status_code == 200, r.text
    city = r.json()["groups"]["350300"]
    assert city["volume"]["cases"] == 3
    assert city["rates"] == {"response_rate": 1.0, "on_time_closure_rate": 1.0,
                             "closure_rate": 1.0, "resolution_rate": 1.0,
                             "satisfaction_rate": 0.6667, "reopen_rate": 0.3333,
                             "misrouted_return_rate": 0.0}
    assert city["overdue_count"] == 0 and city["average_overrun_hours"] is None
    assert city["score"] == pytest.approx(88.33, abs=0.006)
    assert httpx.get(timeout=120, url=sv(stack, "/evaluation"), headers=OUTSIDER,
                     params={"area": "350300"}).status_code == 403
    assert httpx.get(timeout=120, url=sv(stack, "/evaluation"), headers=GRID_WORKER).status_code == 403
