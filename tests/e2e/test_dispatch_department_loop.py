"""The department side of the loop over the real broker: return -> re-dispatch, extension,
co-handling, 吹哨报到, failed verification -> reopen -> closed, and the department inbox
with urgent cases first. Work orders arrive on each department's own topic."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from shapely.geometry import Point

from govctl.processes import Stack
from shared.events.topics import department_topic
from shared.places import load_demo_registry
from tests.e2e.conftest import ADMIN, GRID_WORKER, LEADER, auth, eventually

pytestmark = pytest.mark.e2e

DISPATCHER = auth("dsp-city", "dispatcher", "350300", "市派单员")
CHECKER = auth("gw-check", "grid_worker", "350300", "核查网格员")


# Towns where other tests report the same kinds of problem at fixed places (the demo
# city's samples: test_portal_read_models, test_personal_data_rights): a spot of ours
# within dedup's 500 m of theirs, with the same text, is rightly merged into their case.
OTHER_TESTS_TOWNS = ("350302001", "350302002")
SPOTS = random.Random()  # its own: the global generator's state depends on the tests before


def somewhere() -> dict[str, float]:
    """Each report at its own spot (城厢/涵江/秀屿, away from the area overrides and from
    other tests' towns), so dedup never merges one test's report into another's case."""
    registry = load_demo_registry()
    towns = [registry[code].shape() for code in OTHER_TESTS_TOWNS]
    while True:
        lon, lat = SPOTS.uniform(119.01, 119.10), SPOTS.uniform(25.33, 25.47)
        here = Point(lon, lat)
        if registry.locate(lon, lat) is not None and all(
                town.distance(here) > 0.01 for town in towns):  # about 1 km: twice dedup's
            return {"lon": lon, "lat": lat}


def staff(dept: str) -> dict[str, str]:
    return auth(f"staff-{dept}", "department_staff", "350300", f"{dept}经办人", department=dept)


def report(stack: Stack, category: str, text: str) -> str:
    body = {"external_ref": f"e2e-dispatch-{uuid.uuid4()}", "category": category,
            "title": text[:20], "description": text, "location": somewhere()}
    r = httpx.post(f"{stack.url('intake')}/api/reports", json=body, headers=GRID_WORKER)
    assert r.status_code == 202, r.text
    case_id: str = r.json()["case_id"]
    eventually(lambda: dispatch_state(stack, case_id))
    return case_id


def dispatch_state(stack: Stack, case_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{stack.url('dispatch')}/api/cases/{case_id}", headers=LEADER)
    return r.json() if r.status_code == 200 else None


def act(stack: Stack, case_id: str, step: str, who: dict[str, str],
        body: dict[str, object] | None = None, expect: int = 200) -> dict[str, Any]:
    r = httpx.post(f"{stack.url('dispatch')}/api/cases/{case_id}/{step}", json=body,
                   headers=who)
    assert r.status_code == expect, r.text
    return r.json()


def projected(stack: Stack, case_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=LEADER)
    return r.json() if r.status_code == 200 else None


def file_types(stack: Stack, case_id: str) -> list[str]:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file", headers=LEADER)
    return [e["event_type"] for e in r.json()["events"]] if r.status_code == 200 else []


def file_has(stack: Stack, case_id: str, *types: str) -> list[str]:
    got = file_types(stack, case_id)
    return got if all(got.count(t) >= types.count(t) for t in types) else []


async def work_orders(kafka: str, department: str, case_id: str,
                      wanted: int) -> list[dict[str, Any]]:
    """This case's messages on the department's own topic, once `wanted` have arrived."""
    consumer = AIOKafkaConsumer(department_topic(department), bootstrap_servers=kafka,
                                auto_offset_reset="earliest", group_id=f"t-{uuid.uuid4()}")
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        for _ in range(120):
            batch = await consumer.getmany(timeout_ms=500)
            found += [b for ms in batch.values() for m in ms
                      if (b := json.loads(m.value))["case_id"] == case_id]
            if len(found) >= wanted:
                break
    finally:
        await consumer.stop()
    return found


async def test_return_then_redispatch_reaches_the_next_departments_topic(
        stack: Stack, kafka: str) -> None:
    case_id = report(stack, "environment.oily_smoke", "楼下烧烤店油烟直排，整栋楼都是油烟味。")
    assert dispatch_state(stack, case_id)["department"] == "urban_mgmt"  # type: ignore[index]
    act(stack, case_id, "redispatch", DISPATCHER, {"department": "ecology"}, expect=409)
    returned = act(stack, case_id, "return", staff("urban_mgmt"),
                   {"reason": "该店位于工业园区，油烟由环保部门监管"})
    assert returned["status"] == "returned"
    eventually(lambda: (projected(stack, case_id) or {}).get("status") == "returned")
    moved = act(stack, case_id, "redispatch", DISPATCHER,
                {"department": "ecology", "remark": "改派生态环境局"})
    assert (moved["department"], moved["round"]) == ("ecology", 2)

    orders = await work_orders(kafka, "ecology", case_id, 1)
    assert [(o["event_type"], o["round"], o["reason"]) for o in orders] == [
        ("case.dispatched", 2, "redispatched")]
    first = await work_orders(kafka, "urban_mgmt", case_id, 1)
    assert [(o["event_type"], o["round"]) for o in first] == [("case.dispatched", 1)]
    assert first[0]["list_version"] >= 1 and first[0]["level"] == "district"

    summary = eventually(lambda: (p := projected(stack, case_id)) and
                         p["department"] == "ecology" and p)
    assert summary["status"] == "dispatched"
    inbox = httpx.get(f"{stack.url('projections')}/api/departments/ecology/inbox",
                      headers=staff("ecology")).json()
    assert case_id in [i["case_id"] for i in inbox["items"]]
    types = eventually(lambda: file_has(stack, case_id, "case.returned", "case.dispatched",
                                        "case.dispatched"))
    assert types.index("case.returned") < len(types) - 1


def test_an_extension_granted_before_expiry_moves_the_deadline(stack: Stack) -> None:
    case_id = report(stack, "urban.streetlight", "河边步道的路灯连续一周不亮。")
    act(stack, case_id, "sign-for", staff("urban_mgmt"))
    asked = act(stack, case_id, "extension", staff("urban_mgmt"),
                {"days": 3, "reason": "灯杆需整体更换，配件在途"})
    assert asked["extension"] is not None
    granted = act(stack, case_id, "extension/decision", DISPATCHER,
                  {"approved": True, "remark": "同意延期3个工作日"})
    assert granted["handle_deadline"] > granted["original_handle_deadline"]
    assert granted["extensions"][0]["previous_deadline"] == granted["original_handle_deadline"]
    eventually(lambda: file_has(stack, case_id, "case.extension_requested",
                                "case.extension_granted"))
    # The read model follows the granted deadline (the inbox sorts by it).
    eventually(lambda: _same_instant((projected(stack, case_id) or {}).get("handle_deadline"),
                                     granted["handle_deadline"]))


def _same_instant(a: str | None, b: str) -> bool:
    return a is not None and datetime.fromisoformat(a) == datetime.fromisoformat(b)


async def test_co_handlers_report_their_part_before_the_lead_handles(
        stack: Stack, kafka: str) -> None:
    case_id = report(stack, "safety.ebike_charging", "3号楼一楼有人从窗户拉电线给电动车充电。")
    lead = dispatch_state(stack, case_id)["department"]  # type: ignore[index]
    assert lead == "street_office"
    act(stack, case_id, "sign-for", staff(lead))
    act(stack, case_id, "co-handling", staff(lead),
        {"departments": ["fire_rescue"], "task": "排查飞线充电隐患"})
    refused = act(stack, case_id, "handle", staff(lead), {"result": "已处置"}, expect=409)
    assert refused["rule"] == "co_handlers_pending"
    act(stack, case_id, "co-handling/part", staff("fire_rescue"), {"part": "已拆除飞线 3 处"})
    act(stack, case_id, "consultations", DISPATCHER,
        {"subject": "集中充电点选址", "participants": ["street_office", "fire_rescue", "业主代表"]})
    act(stack, case_id, "consultations/1/conclusion", staff(lead),
        {"conclusion": "在北门建集中充电棚", "decisions": ["物业负责运维"]})
    done = act(stack, case_id, "handle", staff(lead),
               {"result": "集中充电棚已投用", "evidence": ["photo://shed.jpg"]})
    assert done["status"] == "handled"
    orders = await work_orders(kafka, "fire_rescue", case_id, 1)
    assert [o["event_type"] for o in orders] == ["case.co_handling_requested"]
    eventually(lambda: file_has(stack, case_id, "case.co_handling_requested",
                                "case.co_part_reported", "case.consultation_opened",
                                "case.consultation_concluded", "case.handled"))


async def test_a_town_whistles_and_who_did_not_report_in_is_recorded(
        stack: Stack, kafka: str) -> None:
    case_id = report(stack, "environment.illegal_dumping", "河道边夜间有人倾倒建筑垃圾。")
    town = dispatch_state(stack, case_id)["area_path"][2]  # type: ignore[index]
    town_dispatcher = auth("dsp-town", "dispatcher", town, "街道派单员")
    body = {"departments": ["urban_mgmt", "ecology", "police"],
            "reason": "河道非法倾倒，需联合执法", "limit_hours": 2}
    act(stack, case_id, "whistle", DISPATCHER, body, expect=403)  # the city is not a town
    act(stack, case_id, "whistle", town_dispatcher, body)
    act(stack, case_id, "whistle/report-in", staff("urban_mgmt"))
    act(stack, case_id, "whistle/report-in", staff("ecology"))
    closed = act(stack, case_id, "whistle/close", town_dispatcher)
    whistle = closed["whistles"][0]
    assert whistle["absent"] == ["police"] and sorted(whistle["reported"]) == [
        "ecology", "urban_mgmt"]
    police = await work_orders(kafka, "police", case_id, 1)
    assert [o["event_type"] for o in police] == ["case.whistle_blown"]
    eventually(lambda: file_has(stack, case_id, "case.whistle_blown", "case.reported_in",
                                "case.reported_in", "case.whistle_closed"))
    file = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file",
                     headers=LEADER).json()
    closing = next(e for e in file["events"] if e["event_type"] == "case.whistle_closed")
    assert closing["payload"]["absent"] == ["police"]


def test_failed_verification_reopens_to_the_same_department_then_closes(stack: Stack) -> None:
    case_id = report(stack, "urban.garbage", "小区东门垃圾桶满溢，垃圾堆在路边。")
    um = staff("urban_mgmt")
    act(stack, case_id, "sign-for", um)
    act(stack, case_id, "close", DISPATCHER, expect=409)
    act(stack, case_id, "handle", um, {"result": "已清运"})
    reopened = act(stack, case_id, "verify", CHECKER,
                   {"passed": False, "method": "on_site", "remark": "路边仍有垃圾"})
    assert (reopened["status"], reopened["department"]) == ("signed_for", "urban_mgmt")
    act(stack, case_id, "handle", um, {"result": "已彻底清运", "evidence": ["photo://after.jpg"]})
    act(stack, case_id, "verify", CHECKER, {"passed": True, "method": "call_back",
                                            "satisfaction": 5})
    act(stack, case_id, "close", DISPATCHER)
    summary = eventually(lambda: (p := projected(stack, case_id)) and
                         p["status"] == "closed" and p)
    assert summary["reopen_count"] == 1
    types = file_types(stack, case_id)
    assert types.count("case.handled") == 2 and "case.reopened" in types


def test_urgent_cases_come_first_in_the_inbox(stack: Stack) -> None:
    calm = report(stack, "urban.bulky_item", "旧沙发和床垫堆在楼道口一周没人清运。")
    urgent = report(stack, "urban.garbage", "路边垃圾堆着火冒烟，围观人群聚集。")
    state = dispatch_state(stack, urgent)
    assert state["urgency"] == "urgent"  # type: ignore[index]
    assert state["urgency_reasons"] == ["content:fire", "content:crowd"]  # type: ignore[index]
    url = f"{stack.url('projections')}/api/departments/urban_mgmt/inbox"

    def order() -> list[str]:
        ids = [i["case_id"] for i in httpx.get(url, headers=DISPATCHER).json()["items"]]
        return ids if calm in ids and urgent in ids else []

    ids = eventually(order)
    assert ids.index(urgent) < ids.index(calm)
    act(stack, calm, "urgency", DISPATCHER, {"urgency": "urgent", "reason": "学校门口"})
    eventually(lambda: (projected(stack, calm) or {}).get("urgency") == "urgent")


def test_the_list_and_the_calendar_are_edited_with_history(stack: Stack) -> None:
    base = f"{stack.url('dispatch')}/api"
    current = httpx.get(f"{base}/responsibility-list", headers=LEADER).json()
    rules = current["rules"]
    bad = httpx.put(f"{base}/responsibility-list", headers=ADMIN,
                    json={"rules": [r for r in rules if not r["category"].startswith("fire")]})
    assert bad.status_code == 422
    assert any("fire.blocked_exit" in d["msg"] for d in bad.json()["detail"])
    for r in rules:
        if r["category"] == "market.price":
            r["department"] = "market_reg"
            r["handle_days"] = 5
    ok = httpx.put(f"{base}/responsibility-list", headers=ADMIN,
                   json={"rules": rules, "note": "价格违法 5 日办结",
                         "based_on": current["version"]})
    assert ok.status_code == 200, ok.text
    versions = httpx.get(f"{base}/responsibility-list/versions", headers=LEADER).json()
    assert versions[-1]["version"] == current["version"] + 1
    assert versions[-1]["actor"]["id"] == "admin-1"
    case_id = report(stack, "market.price", "药店口罩价格一天之内翻了三倍。")
    assert dispatch_state(stack, case_id)["list_version"] == ok.json()["version"]  # type: ignore[index]
    arrangement = {"year": 2027, "holidays": ["2027-01-01"], "workdays": [],
                   "source": "TEST DATA, not a State Council notice"}
    loaded = httpx.post(f"{base}/calendar/arrangements", json=arrangement, headers=ADMIN)
    assert loaded.status_code == 200 and "2027" in loaded.json()["years"]
