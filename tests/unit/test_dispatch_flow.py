"""Dispatch through its HTTP API on the embedded store: the responsibility list, urgency,
the holiday calendar, and the department side of the loop, with every refused step
answering 409 with its rule and changing nothing. Time is a driven clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from services.dispatch.application import DispatchApplication, DispatchSettings
from services.dispatch.bootstrap import SPEC
from services.dispatch.outbox import to_integration
from services.dispatch.seed import SEED_RULES
from shared.events import Actor, Channel, parse_event, serialize_event
from shared.events.dedup import CaseRegistered
from shared.events.topics import department_topic
from shared.runtime.auth import issue_token
from shared.runtime.clock import DrivenClock
from shared.runtime.relay import Fanout
from shared.runtime.service import create_http_app
from shared.runtime.store import Inbound

SH = ZoneInfo("Asia/Shanghai")
SECRET = "unit-test-secret-" + "x" * 32
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=SH)  # a Tuesday morning
TOWN = "350302001"  # 龙桥街道, 城厢区
PATH = ["350300", "350302", TOWN, "350302001001", "350302001001001"]


def headers(sub: str, role: str, place: str = "350300", department: str | None = None
            ) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(sub, role, place, "", department,
                                                     key=SECRET)}


def staff(dept: str) -> dict[str, str]:
    return headers(f"s-{dept}", "department_staff", department=dept)


DISPATCHER = headers("d-city", "dispatcher")
DISTRICT_DISPATCHER = headers("d-350302", "dispatcher", "350302")
TOWN_DISPATCHER = headers("d-town", "dispatcher", TOWN)
ADMIN = headers("admin", "administrator")
CHECKER = headers("gw", "grid_worker")


class World:
    def __init__(self, tmp: Path) -> None:
        self.clock = DrivenClock(T0)
        self.app = DispatchApplication(
            DispatchSettings(service_name="dispatch", data_dir=tmp), clock=self.clock)
        self.http = TestClient(create_http_app(SPEC, SimpleNamespace(sink=self.app)))  # type: ignore[arg-type]
        self.offset = 0

    def register(self, category: str = "urban.garbage", text: str = "垃圾桶满溢",
                 channel: Channel = Channel.GRID_APP, path: list[str] | None = None,
                 at: datetime | None = None) -> str:
        case_id = uuid.uuid4()
        e = CaseRegistered(
            event_id=uuid.uuid4(), case_id=case_id, occurred_at=at or self.clock.now(),
            producer="dedup", correlation_id=case_id, actor=Actor(id="dedup", role="system"),
            report_id=case_id, channel=channel, category=category, title="", description=text,
            area_path=tuple(path or PATH), reported_at=at or self.clock.now())
        assert self.app.process_batch([Inbound("gov.dedup.events", 0, self.offset, e)])
        self.offset += 1
        return str(case_id)

    def post(self, case_id: str, step: str, who: dict[str, str],
             body: dict[str, Any] | None = None) -> Any:
        return self.http.post(f"/api/cases/{case_id}/{step}", json=body, headers=who)

    def state(self, case_id: str) -> dict[str, Any]:
        r = self.http.get(f"/api/cases/{case_id}", headers=DISPATCHER)
        assert r.status_code == 200, r.text
        return r.json()

    def refused(self, case_id: str, step: str, who: dict[str, str], rule: str,
                body: dict[str, Any] | None = None) -> None:
        before = self.state(case_id)
        r = self.post(case_id, step, who, body)
        assert (r.status_code, r.json().get("rule")) == (409, rule), r.text
        assert self.state(case_id) == before  # nothing changed


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("GOV_AUTH_SECRET", SECRET)
    world = World(tmp_path)
    yield world
    world.app.close()


# -- the responsibility list -------------------------------------------------------------

def test_the_seeded_list_routes_by_category_level_and_area_override(w: World) -> None:
    garbage = w.state(w.register("urban.garbage"))
    assert (garbage["department"], garbage["level"], garbage["handling_place"]) == (
        "urban_mgmt", "town", TOWN)
    assert garbage["list_version"] == 1 and garbage["status"] == "dispatched"
    # 暴露垃圾: sign within 1 working hour, handle within 4 (GB/T 30428 example): 9:00 + 3h
    # to the lunch break, + 1h from 14:00.
    assert datetime.fromisoformat(garbage["handle_deadline"]) == T0 + timedelta(hours=6)
    assert datetime.fromisoformat(garbage["sign_deadline"]) == T0 + timedelta(hours=1)
    xianyou = ["350300", "350322", "350322100"]
    assert w.state(w.register("urban.illegal_building", path=xianyou))["department"] == \
        "street_office"
    assert w.state(w.register("urban.illegal_building"))["department"] == "urban_mgmt"
    # A sub-category without its own rule falls back to the topic's rule.
    assert w.state(w.register("dispute.family"))["department"] == "street_office"


def test_an_invalid_list_is_refused_with_every_problem_and_changes_nothing(w: World) -> None:
    rules = [r.model_dump(mode="json") for r in SEED_RULES if not r.category.startswith("fire")]
    rules.append(rules[0])  # the same key twice
    rules.append({**rules[1], "department": "no_such_bureau", "category": "market.other"})
    r = w.http.put("/api/responsibility-list", json={"rules": rules}, headers=ADMIN)
    assert r.status_code == 422
    msgs = [d["msg"] for d in r.json()["detail"]]
    assert any(m.startswith("ambiguous: 2 rules for dispute city-wide") for m in msgs)
    assert any("fire.blocked_exit" in m and "no city-wide owner" in m for m in msgs)
    assert any("unknown department 'no_such_bureau'" in m for m in msgs)
    assert any("unknown category 'market.other'" in m for m in msgs)
    versions = w.http.get("/api/responsibility-list/versions", headers=DISPATCHER).json()
    assert [v["version"] for v in versions] == [1]
    # Only administrators edit it.
    ok = {"rules": [x.model_dump(mode="json") for x in SEED_RULES]}
    assert w.http.put("/api/responsibility-list", json=ok, headers=DISPATCHER).status_code == 403


def test_a_new_version_keeps_history_and_routes_cases_registered_after_it(w: World) -> None:
    before_edit = w.clock.now()
    rules = [r.model_dump(mode="json") for r in SEED_RULES]
    for r in rules:
        if r["category"] == "urban.garbage":
            r.update(department="street_office", handle_hours=6)
    w.clock.set(T0 + timedelta(minutes=30))
    r = w.http.put("/api/responsibility-list", headers=ADMIN,
                   json={"rules": rules, "note": "垃圾清运下放街道", "based_on": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    stale = w.http.put("/api/responsibility-list", headers=ADMIN,
                       json={"rules": rules, "based_on": 1})
    assert (stale.status_code, stale.json()["rule"]) == (409, "list_changed_meanwhile")
    history = w.http.get("/api/responsibility-list/versions", headers=DISPATCHER).json()
    assert [(v["version"], v["actor"]["id"]) for v in history] == [(1, "dispatch"),
                                                                   (2, "admin")]
    v1 = w.http.get("/api/responsibility-list/versions/1", headers=DISPATCHER).json()
    assert next(x for x in v1["rules"] if x["category"] == "urban.garbage")[
        "department"] == "urban_mgmt"
    after = w.state(w.register("urban.garbage"))
    assert (after["department"], after["list_version"]) == ("street_office", 2)
    # Routing uses the version current when the case was registered, not when consumed.
    late = w.state(w.register("urban.garbage", at=before_edit))
    assert (late["department"], late["list_version"]) == ("urban_mgmt", 1)


# -- urgency ---------------------------------------------------------------------------------

def test_urgency_from_category_channel_and_words_and_a_manual_override(w: World) -> None:
    assert w.state(w.register("fire.blocked_exit"))["urgency_reasons"] == [
        "category:fire.blocked_exit"]
    gas = w.state(w.register("dispute.neighbour", text="楼道里有明显燃气味，两家在门口打架"))
    assert gas["urgency"] == "urgent"
    assert gas["urgency_reasons"] == ["content:gas", "content:violence"]
    police = w.state(w.register("order.suspicious", channel=Channel.POLICE))
    assert police["urgency_reasons"] == ["channel:police"]
    calm = w.register("urban.streetlight", text="路灯不亮")
    assert w.state(calm)["urgency"] == "normal"
    assert w.post(calm, "urgency", staff("urban_mgmt"),
                  {"urgency": "urgent", "reason": "x"}).status_code == 403
    r = w.post(calm, "urgency", DISPATCHER, {"urgency": "urgent", "reason": "学校门口，夜间无照明"})
    assert r.json()["urgency"] == "urgent"
    assert r.json()["urgency_reasons"][-1] == "manual:学校门口，夜间无照明"
    w.refused(calm, "urgency", DISPATCHER, "urgency_unchanged",
              {"urgency": "urgent", "reason": "again"})


# -- calendar ---------------------------------------------------------------------------------

def test_a_deadline_in_an_unloaded_year_warns_until_the_arrangement_is_loaded(w: World) -> None:
    petition = w.state(w.register("petition.general"))  # 30 working days: into 2027
    assert datetime.fromisoformat(petition["handle_deadline"]).year == 2027
    assert len(petition["warnings"]) == 1 and "2027" in petition["warnings"][0]
    arrangement = {"year": 2027, "holidays": ["2027-01-01"], "workdays": [],
                   "source": "TEST DATA, not a State Council notice"}
    assert w.http.post("/api/calendar/arrangements", json=arrangement,
                       headers=DISPATCHER).status_code == 403
    r = w.http.post("/api/calendar/arrangements", json=arrangement, headers=ADMIN)
    assert r.status_code == 200 and list(r.json()["years"]) == ["2027"]
    again = {**arrangement, "holidays": ["2027-01-01", "2027-01-04"]}
    history = w.http.post("/api/calendar/arrangements", json=again, headers=ADMIN).json()
    assert [h["revision"] for h in history["history"]] == [1, 2]
    assert history["years"]["2027"]["holidays"] == ["2027-01-01", "2027-01-04"]
    later = w.state(w.register("petition.general"))
    assert later["warnings"] == []
    # The loaded days count: Jan 1 and Jan 4 are off, so the deadline moves by one day.
    assert datetime.fromisoformat(later["handle_deadline"]).date() > \
        datetime.fromisoformat(petition["handle_deadline"]).date()
    bad = {**arrangement, "workdays": ["2027-01-05"]}  # a Tuesday as a make-up day
    assert w.http.post("/api/calendar/arrangements", json=bad, headers=ADMIN).status_code == 422


def test_national_day_week_and_a_make_up_saturday_in_routing(w: World) -> None:
    # Wed 2026-09-30: 物业纠纷 5 working days; Oct 1–7 off, Sat Oct 10 is a make-up workday.
    at = datetime(2026, 9, 30, 10, 0, tzinfo=SH)
    prop = w.state(w.register("dispute.property", at=at))
    assert datetime.fromisoformat(prop["handle_deadline"]) == datetime(
        2026, 10, 13, 17, 30, tzinfo=SH)
    # Fri Oct 9 16:00: 暴露垃圾 4 working hours = 1.5 on Friday + 2.5 on the make-up Saturday.
    friday = w.state(w.register("urban.garbage", at=datetime(2026, 10, 9, 16, 0, tzinfo=SH)))
    assert datetime.fromisoformat(friday["handle_deadline"]) == datetime(
        2026, 10, 10, 11, 0, tzinfo=SH)
    assert datetime.fromisoformat(friday["sign_deadline"]) == datetime(
        2026, 10, 9, 17, 0, tzinfo=SH)
    # Registered on the last day before the holiday, signing waits for Oct 8.
    eve = w.state(w.register("urban.streetlight", at=datetime(2026, 9, 30, 17, 0, tzinfo=SH)))
    assert datetime.fromisoformat(eve["sign_deadline"]) == datetime(
        2026, 10, 8, 10, 0, tzinfo=SH)
    # 3 working days: Oct 8, Oct 9 and the make-up Saturday Oct 10.
    assert date.fromisoformat(eve["handle_deadline"][:10]) == date(2026, 10, 10)


# -- return, re-dispatch, arbitration --------------------------------------------------------

def test_return_redispatch_then_arbitration_by_the_level_above(w: World) -> None:
    case = w.register("environment.oily_smoke")
    w.refused(case, "redispatch", DISPATCHER, "redispatch_requires_returned",
              {"department": "ecology"})
    r = w.post(case, "return", staff("urban_mgmt"), {"reason": "油烟属餐饮许可，不属城管"})
    assert r.json()["status"] == "returned"
    w.refused(case, "redispatch", DISPATCHER, "redispatch_to_returning_department",
              {"department": "urban_mgmt"})
    r = w.post(case, "redispatch", DISPATCHER, {"department": "ecology", "remark": "改派环保"})
    assert (r.json()["department"], r.json()["round"], r.json()["status"]) == (
        "ecology", 2, "dispatched")
    w.refused(case, "sign-for", staff("urban_mgmt"), "not_assigned_department")
    r = w.post(case, "return", staff("ecology"), {"reason": "应由城管执法"})
    assert r.json()["status"] == "arbitration"
    w.refused(case, "redispatch", DISPATCHER, "redispatch_requires_returned",
              {"department": "market_reg"})
    # Handled at district level: the district itself may not arbitrate, the city may.
    w.refused(case, "arbitrate", DISTRICT_DISPATCHER, "arbitration_by_level_above",
              {"department": "urban_mgmt", "decision": "x"})
    r = w.post(case, "arbitrate", DISPATCHER,
               {"department": "urban_mgmt", "decision": "依权责清单第6项，由城管牵头"})
    assert (r.json()["department"], r.json()["round"]) == ("urban_mgmt", 3)
    assert r.json()["arbitrated"] is True
    w.refused(case, "return", staff("urban_mgmt"), "arbitrated_case_cannot_be_returned",
              {"reason": "again"})


def test_return_after_the_return_limit_is_refused(w: World) -> None:
    case = w.register("urban.streetlight")
    w.clock.set(datetime.fromisoformat(w.state(case)["return_deadline"]) + timedelta(minutes=1))
    w.refused(case, "return", staff("urban_mgmt"), "return_limit_passed", {"reason": "不归我们"})


# -- extension -------------------------------------------------------------------------------

def test_extension_before_expiry_keeps_the_old_deadline_beside_the_new(w: World) -> None:
    case = w.register("urban.streetlight")  # 3 working days
    w.refused(case, "extension", staff("urban_mgmt"), "extension_requires_signed_for",
              {"days": 2, "reason": "等配件"})
    w.post(case, "sign-for", staff("urban_mgmt"))
    old = w.state(case)["handle_deadline"]
    r = w.post(case, "extension", staff("urban_mgmt"), {"days": 2, "reason": "灯杆需整体更换"})
    assert r.json()["extension"]["reason"] == "灯杆需整体更换"
    w.refused(case, "extension", staff("urban_mgmt"), "extension_already_pending",
              {"days": 1, "reason": "x"})
    r = w.post(case, "extension/decision", DISPATCHER, {"approved": True, "remark": "同意"})
    s = r.json()
    assert s["original_handle_deadline"] == old and s["handle_deadline"] > old
    assert s["extensions"][0]["previous_deadline"] == old
    w.refused(case, "extension/decision", DISPATCHER, "no_pending_extension",
              {"approved": True})
    w.clock.set(datetime.fromisoformat(s["handle_deadline"]) + timedelta(hours=1))
    w.refused(case, "extension", staff("urban_mgmt"), "extension_after_expiry",
              {"days": 1, "reason": "还要更久"})


# -- co-handling, consultation, handling ---------------------------------------------------

def test_the_lead_handles_only_after_co_handlers_reported_and_consultations_concluded(
        w: World) -> None:
    case = w.register("safety.ebike_charging")  # lead: the street office
    w.refused(case, "handle", staff("street_office"), "handle_requires_signed_for",
              {"result": "x"})
    w.post(case, "sign-for", staff("street_office"))
    assert w.post(case, "co-handling", staff("police"),
                  {"departments": ["fire_rescue"]}).json()["rule"] == "not_assigned_department"
    r = w.post(case, "co-handling", staff("street_office"),
               {"departments": ["fire_rescue", "housing"], "task": "排查飞线、规划充电桩"})
    assert r.json()["co_departments"] == {"fire_rescue": None, "housing": None}
    w.refused(case, "handle", staff("street_office"), "co_handlers_pending", {"result": "x"})
    w.refused(case, "co-handling/part", staff("water"), "not_a_co_handler", {"part": "x"})
    w.post(case, "co-handling/part", staff("fire_rescue"), {"part": "已拆除飞线 12 处"})
    w.post(case, "co-handling/part", staff("housing"), {"part": "已选址建设集中充电棚"})
    w.refused(case, "co-handling/part", staff("housing"), "co_part_already_reported",
              {"part": "again"})
    r = w.post(case, "consultations", DISPATCHER, {
        "subject": "电动车飞线充电集中治理", "participants": ["street_office", "fire_rescue",
                                                   "社区居委会", "业主代表"]})
    assert r.json()["consultations"][0]["number"] == 1
    w.refused(case, "handle", staff("street_office"), "consultation_open", {"result": "x"})
    r = w.post(case, "consultations/1/conclusion", staff("street_office"),
               {"conclusion": "在小区北门建设集中充电点", "decisions": ["物业负责日常管理"]})
    assert r.json()["consultations"][0]["conclusion"] == "在小区北门建设集中充电点"
    w.refused(case, "consultations/1/conclusion", DISPATCHER, "consultation_already_concluded",
              {"conclusion": "again"})
    r = w.post(case, "handle", staff("street_office"),
               {"result": "集中充电点已投用", "evidence": ["photo://charging.jpg"]})
    assert r.json()["status"] == "handled"


# -- 吹哨报到 ------------------------------------------------------------------------------------

def test_a_town_whistles_and_the_case_records_who_reported_in(w: World) -> None:
    case = w.register("environment.illegal_dumping")
    body = {"departments": ["urban_mgmt", "ecology", "police"], "reason": "河道非法倾倒建筑垃圾",
            "limit_hours": 2}
    assert w.post(case, "whistle", DISPATCHER, body).status_code == 403  # the city is no town
    other_town = headers("d-other", "dispatcher", "350302002")
    assert w.post(case, "whistle", other_town, body).status_code == 404
    r = w.post(case, "whistle", TOWN_DISPATCHER, body)
    assert r.status_code == 200, r.text
    w.refused(case, "whistle", TOWN_DISPATCHER, "whistle_already_active", body)
    w.post(case, "whistle/report-in", staff("urban_mgmt"))
    w.refused(case, "whistle/report-in", staff("urban_mgmt"), "already_reported_in")
    w.refused(case, "whistle/report-in", staff("water"), "not_summoned")
    w.clock.set(T0 + timedelta(hours=3))  # past the 2 working hours
    w.post(case, "whistle/report-in", staff("ecology"))
    r = w.post(case, "whistle/close", TOWN_DISPATCHER)
    whistle = r.json()["whistles"][0]
    assert whistle["closed"] and whistle["absent"] == ["police"]
    assert whistle["reported"]["urban_mgmt"]["on_time"] is True
    assert whistle["reported"]["ecology"]["on_time"] is False
    w.refused(case, "whistle/report-in", staff("police"), "no_active_whistle")


# -- verification ------------------------------------------------------------------------------

def test_failed_verification_reopens_to_the_same_department_then_closes(w: World) -> None:
    case = w.register("urban.garbage")
    w.post(case, "sign-for", staff("urban_mgmt"))
    w.refused(case, "close", DISPATCHER, "close_requires_verification")
    w.post(case, "handle", staff("urban_mgmt"), {"result": "已清运"})
    assert w.post(case, "verify", CHECKER, {"passed": False, "method": "on_site"}
                  ).status_code == 422  # a failure must say why
    r = w.post(case, "verify", CHECKER, {"passed": False, "method": "on_site",
                                         "remark": "路边仍有垃圾"})
    s = r.json()
    assert (s["status"], s["department"], s["reopen_count"], s["remark"]) == (
        "signed_for", "urban_mgmt", 1, "路边仍有垃圾")
    w.post(case, "handle", staff("urban_mgmt"), {"result": "已彻底清运"})
    w.post(case, "verify", CHECKER, {"passed": True, "method": "on_site"})
    r = w.post(case, "verify", CHECKER, {"passed": True, "method": "call_back",
                                         "satisfaction": 5})
    assert r.json()["status"] == "verified"
    w.refused(case, "verify", CHECKER, "verify_requires_handled",
              {"passed": True, "method": "call_back"})
    assert w.post(case, "close", DISPATCHER).json()["status"] == "closed"


# -- the public contract --------------------------------------------------------------------

def test_stored_events_become_contracts_and_work_orders_reach_department_topics(
        w: World) -> None:
    case = w.register("environment.oily_smoke")
    w.post(case, "return", staff("urban_mgmt"), {"reason": "不属城管"})
    w.post(case, "redispatch", DISPATCHER, {"department": "ecology"})
    w.post(case, "sign-for", staff("ecology"))
    w.post(case, "co-handling", DISPATCHER, {"departments": ["market_reg"]})
    stored = list(w.app.repository.event_store.get(uuid.UUID(case)))
    published = [to_integration(e) for e in stored]
    types = []
    for p in published:
        event = p.event if isinstance(p, Fanout) else p
        assert event is not None
        assert parse_event(serialize_event(event)) == event
        types.append((event.event_type, p.also if isinstance(p, Fanout) else ()))
    assert types == [
        ("case.dispatched", (department_topic("urban_mgmt"),)),
        ("case.returned", ()),
        ("case.dispatched", (department_topic("ecology"),)),
        ("case.signed_for", ()),
        ("case.co_handling_requested", (department_topic("market_reg"),)),
    ]
    redispatched = published[2]
    assert isinstance(redispatched, Fanout)
    assert (redispatched.event.round, redispatched.event.reason) == (2, "redispatched")  # type: ignore[attr-defined]
    assert redispatched.event.category == "environment.oily_smoke"  # type: ignore[attr-defined]
    # Reference data never leaves the service.
    assert to_integration(next(iter(w.app.repository.event_store.get(
        w.app.responsibility_list().id)))) is None


def test_every_seeded_rule_routes_and_every_category_has_a_city_wide_owner() -> None:
    from services.dispatch.routing import RoutingTable, problems
    from shared.catalogue import TOPICS, categories

    assert problems(list(SEED_RULES)) == []
    table = RoutingTable(list(SEED_RULES))
    for code in categories():
        assert table.route(code, PATH).department
    assert {r.category.split(".")[0] for r in SEED_RULES} == set(TOPICS)


def test_utc_inputs_are_fine(w: World) -> None:
    case = w.state(w.register("urban.garbage", at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC)))
    assert datetime.fromisoformat(case["handle_deadline"]) == T0 + timedelta(hours=6)
