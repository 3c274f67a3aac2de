"""The notice index (督办) on the embedded store: notices listed by department and area from
the index folded with the timers, never from the watches; answered ones leave the open list
(on time or late); a re-dispatch moves the case's area; a restart rebuilds the index from
the log; and GET /api/supervision/notices is scoped by the caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.bootstrap import SPEC
from services.supervision.notices import NoticeIndex
from shared.events import Actor, dispatch
from shared.runtime.auth import issue_token
from shared.runtime.clock import DrivenClock
from shared.runtime.service import create_http_app
from tests.unit.test_supervision_story import AREA_A, AREA_B, STAFF, Story, t

SECRET = "notice-index-test-secret-" + "n" * 32
SUPERVISOR = Actor(id="sv-1", role="supervisor", name="效能办")


@pytest.fixture
def settings(tmp_path: Path) -> SupervisionSettings:
    return SupervisionSettings(service_name="supervision", data_dir=tmp_path, clock="driven")


@pytest.fixture
def app(settings: SupervisionSettings) -> SupervisionApplication:
    return SupervisionApplication(settings, clock=DrivenClock(t(1, 8)))


def dispatched_case(story: Story, department: str = "urban_mgmt",
                    area: tuple[str, ...] = AREA_A) -> uuid.UUID:
    case = uuid.uuid4()
    story.report(case, t(1, 9), area)
    story.dispatched(case, t(1, 9, 5), t(1, 12), t(10, 17, 30), department, area=area)
    return case


def listed(app: SupervisionApplication, area: str = "350300", department: str | None = None,
           state: Any = "open") -> list[tuple[uuid.UUID, str, str]]:
    return [(n["case_id"], n["notice_id"], n["state"])
            for n in app.notices(area, department, state)]


def test_open_notices_by_department_and_area_by_their_deadline(app: SupervisionApplication
                                                               ) -> None:
    story = Story(app)
    a, b = dispatched_case(story), dispatched_case(story, area=AREA_B)
    police = dispatched_case(story, "police")
    app.clock.set(t(1, 10))  # type: ignore[attr-defined]
    app.issue_notice(a, "请说明进展", t(2, 17), SUPERVISOR)
    app.issue_notice(b, "请于今日答复", t(1, 16), SUPERVISOR)
    app.issue_notice(police, "请核实", t(1, 15), SUPERVISOR)

    assert listed(app, department="urban_mgmt") == [(b, "1", "waiting"), (a, "1", "waiting")]
    assert listed(app, "350300/350302", "urban_mgmt") == [(a, "1", "waiting")]
    assert listed(app, "350300/350302") == [(police, "1", "waiting"), (a, "1", "waiting")]
    app.clock.set(t(1, 16))  # type: ignore[attr-defined]
    assert listed(app, department="urban_mgmt") == [(b, "1", "overdue"), (a, "1", "waiting")]
    row = app.notices("350300", "urban_mgmt")[1]
    assert row["reason"] == "请说明进展" and row["respond_by"] == t(2, 17)
    assert row["area_path"] == list(AREA_A) and row["case_closed"] is False


def test_an_answer_leaves_the_open_list_on_time_or_late(app: SupervisionApplication) -> None:
    story = Story(app)
    case = dispatched_case(story)
    app.clock.set(t(1, 10))  # type: ignore[attr-defined]
    app.issue_notice(case, "请说明进展", t(1, 15), SUPERVISOR)
    app.issue_notice(case, "再次督办", t(1, 16), SUPERVISOR)
    assert len(listed(app)) == 2  # the index is caught up before the first answer
    app.answer_notice(case, "1", "urban_mgmt", "已安排清运", STAFF)
    app.clock.set(t(1, 17))  # type: ignore[attr-defined]
    app.answer_notice(case, "2", "urban_mgmt", "已办结", STAFF)

    assert listed(app) == []
    answered = app.notices("350300", "urban_mgmt", "answered")
    assert [(n["notice_id"], n["state"], n["on_time"]) for n in answered] == [
        ("2", "late", False), ("1", "answered", True)]  # latest answer first
    assert answered[1]["response"] == "已安排清运" and answered[1]["answered_at"] == t(1, 10)
    assert len(listed(app, state="all")) == 2


def test_the_list_is_read_from_the_index_not_from_the_watches(
        app: SupervisionApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    story = Story(app)
    case = dispatched_case(story)
    app.issue_notice(case, "请说明进展", t(2, 17), SUPERVISOR)

    def no_replay(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a watch was replayed to list notices")

    monkeypatch.setattr(app.repository, "get", no_replay)
    assert listed(app) == [(case, "1", "waiting")]


def test_a_redispatch_moves_the_case_area_and_the_notice_keeps_its_department(
        app: SupervisionApplication) -> None:
    story = Story(app)
    case = dispatched_case(story)
    app.issue_notice(case, "请说明进展", t(2, 17), SUPERVISOR)
    story.step(dispatch.CaseReturned, case, t(1, 11), department="urban_mgmt", reason="不属")
    story.dispatched(case, t(1, 12), t(1, 15), t(12, 17, 30), "ecology", round=2, area=AREA_B)
    assert listed(app, "350300/350302") == []
    assert listed(app, "350300/350303", "urban_mgmt") == [(case, "1", "waiting")]
    assert listed(app, department="ecology") == []
    story.step(dispatch.CaseClosed, case, t(2, 9), department="ecology", on_time=True)
    assert app.notices("350300")[0]["case_closed"] is True


def test_a_restart_rebuilds_the_index_from_the_log(app: SupervisionApplication,
                                                   settings: SupervisionSettings) -> None:
    story = Story(app)
    a, b = dispatched_case(story), dispatched_case(story, area=AREA_B)
    app.issue_notice(a, "请说明进展", t(2, 17), SUPERVISOR)
    app.issue_notice(b, "请于今日答复", t(1, 16), SUPERVISOR)
    app.answer_notice(b, "1", "urban_mgmt", "已答复", STAFF)
    before = app.notices("350300", state="all")
    again = SupervisionApplication(settings, clock=DrivenClock(t(1, 8)))
    assert again.notices("350300", state="all") == before
    assert [n["case_id"] for n in again.notices("350300")] == [a]
    assert len(again.timers) == len(app.timers) > 0


def test_the_indexes_never_fetch_the_archive_entries_they_do_not_fold(
        app: SupervisionApplication, settings: SupervisionSettings) -> None:
    case = dispatched_case(Story(app))
    fresh = SupervisionApplication(settings, clock=DrivenClock(t(1, 8)))
    fresh.timers.position, fresh.notice_index = 0, NoticeIndex()  # from the log's start
    real, topics = fresh.recorder.select_notifications, []

    def select(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        topics.extend(n.topic for n in found)
        return found

    fresh.recorder.select_notifications = select  # type: ignore[method-assign]
    fresh.refresh_timers()
    assert "services.supervision.domain:Watch.Started" in topics
    assert topics and not [t for t in topics if "Archive" in t]
    assert list(fresh.notice_index.cases) == [case]
    assert len(fresh.timers) > 0


# -- GET /api/supervision/notices: scoped by the caller ---------------------------------------

@pytest.fixture
def http(app: SupervisionApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("GOV_AUTH_SECRET", SECRET)
    yield TestClient(create_http_app(SPEC, SimpleNamespace(sink=app)))  # type: ignore[arg-type]


def call(http: TestClient, role: str, place: str = "350300", department: str | None = None,
         query: str = "", method: str = "GET", path: str = "/api/supervision/notices",
         body: dict[str, Any] | None = None) -> httpx.Response:
    token = issue_token("u", role, place, "", department, key=SECRET)
    return http.request(method, f"{path}?{query}" if query else path, json=body,
                        headers={"Authorization": f"Bearer {token}"})


def shown(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    return {f"{n['department']}@{n['area_path'][1]}" for n in r.json()["items"]}


def test_the_route_shows_each_caller_only_their_scope(app: SupervisionApplication,
                                                      http: TestClient) -> None:
    story = Story(app)
    cases = [dispatched_case(story), dispatched_case(story, area=AREA_B),
             dispatched_case(story, "police")]
    for case in cases:  # issued through the route, as a supervisor does
        r = call(http, "supervisor", path=f"/api/supervision/cases/{case}/notices", method="POST",
                 body={"reason": "请说明进展", "respond_by": t(2, 17).isoformat()})
        assert r.status_code == 201, r.text
    everything = {"urban_mgmt@350302", "urban_mgmt@350303", "police@350302"}

    assert shown(call(http, "department_staff", department="urban_mgmt")) == {
        "urban_mgmt@350302", "urban_mgmt@350303"}
    assert shown(call(http, "department_staff", "350303", "urban_mgmt")) == {"urban_mgmt@350303"}
    assert call(http, "department_staff", department="urban_mgmt",
                query="department=police").status_code == 403
    assert call(http, "department_staff").status_code == 403  # a token without a department
    assert shown(call(http, "supervisor")) == everything
    assert shown(call(http, "leader", "350302")) == {"urban_mgmt@350302", "police@350302"}
    assert shown(call(http, "supervisor", query="department=police")) == {"police@350302"}
    assert shown(call(http, "leader", query="area=350300/350303")) == {"urban_mgmt@350303"}
    assert call(http, "leader", "350302", query="area=350300/350303").status_code == 403
    for role in ("grid_worker", "dispatcher", "hotline_operator"):
        assert call(http, role).status_code == 403
    assert call(http, "supervisor", query="department=no_such").status_code == 404


def test_staff_answer_through_the_route_and_the_notice_leaves_the_open_list(
        app: SupervisionApplication, http: TestClient) -> None:
    case = dispatched_case(Story(app))
    app.issue_notice(case, "请说明进展", t(2, 17), SUPERVISOR)
    staff: dict[str, Any] = {"role": "department_staff", "department": "urban_mgmt"}
    [notice] = call(http, **staff).json()["items"]
    r = call(http, **staff, method="POST", body={"response": "已安排清运"},
             path=f"/api/supervision/cases/{case}/notices/{notice['notice_id']}/response")
    assert r.status_code == 200, r.text
    left = call(http, **staff).json()
    assert (left["total"], left["items"]) == (0, [])
    [answered] = call(http, **staff, query="state=answered").json()["items"]
    assert (answered["state"], answered["response"]) == ("answered", "已安排清运")
