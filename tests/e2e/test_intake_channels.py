"""Every intake channel, over HTTP and over its Kafka intake topic, through the real broker
to a dispatched case; personal data never on the wire in plain text; Open311 round trips
with a status that follows the real case; the manual placement queue."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from govctl.processes import Stack
from services.intake.domain import report_id
from shared.events.topics import CHANNEL_TOPICS, DEAD_LETTER, INTAKE
from shared.pii import find_personal_patterns, seal_for_transport
from shared.places import load_demo_registry
from tests.e2e.conftest import LEADER, auth, eventually, keep_apart

pytestmark = pytest.mark.e2e

PHONE = "13812345678"
ID_NUMBER = "350302199003071234"
HOTLINE = auth("op-7", "hotline_operator", "350300", "话务员")
SYSTEM = auth("sys-1", "service", "350300", "对接系统")
DISPATCHER = auth("dsp-9", "dispatcher", "350300", "派单员")
INSPECTOR = auth("um-9", "department_staff", "350300", "巡查员", department="urban_mgmt")
STAFF = auth("um-0042", "department_staff", "350300", "城管经办人", department="urban_mgmt")
CHECKER = auth("gw-0002", "grid_worker", "350300", "陈网格")
SPOT = {"lon": 119.02, "lat": 25.44}


def spot() -> dict[str, float]:
    """Somewhere in the demo city, apart from other tests' reports (dedup merges near ones)."""
    return {"lon": round(random.uniform(118.92, 119.18), 6),
            "lat": round(random.uniform(25.32, 25.48), 6)}
CALLER = {"name": "张三丰", "phone": PHONE, "id_number": ID_NUMBER}


def bodies(n: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """channel -> (body, headers) for its HTTP route; the same fields go on its topic."""
    return {
        "inspection": ({"inspection_ref": f"XC-{n}", "department": "urban_mgmt",
                        "category": "urban.street_vendor", "description": "东门占道经营，堵塞人行道",
                        "found_at": "2026-03-02T09:00:00+08:00", "location": spot()}, INSPECTOR),
        "hotline_12345": ({"work_order_no": f"GD-{n}", "call_time": "2026-03-02T09:05:00+08:00",
                           "caller": CALLER, "content": f"楼下烧烤油烟很大，我的电话{PHONE}",
                           "hotline_category": "生态环境/大气污染/餐饮油烟",
                           "location": spot()}, HOTLINE),
        "police": ({"incident_no": f"JQ-{n}", "police_station": "龙桥派出所",
                    "received_at": "2026-03-02T22:10:00+08:00", "incident_type": "噪音扰民",
                    "content": "邻居装修深夜噪音", "caller": {"phone": PHONE},
                    "location": spot()}, SYSTEM),
        "petition": ({"petition_no": f"XF-{n}", "received_at": "2026-03-01T10:00:00+08:00",
                      "petitioner": CALLER, "petition_form": "visit",
                      "content": "反映小区物业长期不维修电梯", "category": "dispute.property",
                      "location": spot()}, SYSTEM),
    }


def case_status(stack: Stack, case_id: str) -> str | None:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=LEADER)
    return r.json()["status"] if r.status_code == 200 else None


def dispatched(stack: Stack, case_id: str) -> bool:
    """True once dispatched; a report at a random spot may land near a like case, and a
    person then tells dedup it is a problem of its own."""
    status = case_status(stack, case_id)
    if status == "in_review":
        keep_apart(stack, case_id)
    return status == "dispatched"


def test_every_channel_over_http_becomes_a_dispatched_case(stack: Stack) -> None:
    n = uuid.uuid4().hex[:8]
    cases = {}
    for channel, (body, headers) in bodies(n).items():
        r = httpx.post(f"{stack.url('intake')}/api/channels/{channel}", json=body, headers=headers)
        assert r.status_code == 202, (channel, r.text)
        assert r.json()["placed"], channel
        cases[channel] = r.json()["case_id"]
        again = httpx.post(f"{stack.url('intake')}/api/channels/{channel}", json=body,
                           headers=headers)
        assert again.status_code == 200 and again.json()["case_id"] == cases[channel]
    for channel, case_id in cases.items():
        eventually(lambda c=case_id: dispatched(stack, c))
        report = httpx.get(f"{stack.url('intake')}/api/reports/{case_id}", headers=LEADER).json()
        assert report["channel"] == channel
        if channel in ("hotline_12345", "petition"):
            assert report["contact"]["phone"] == "138****5678"
            assert report["contact"]["name"] == "张**"
            assert report["contact"]["id_number"] == "3503**********1234"
        assert PHONE not in json.dumps(report)
    hotline = httpx.get(f"{stack.url('intake')}/api/reports/{cases['hotline_12345']}",
                        headers=LEADER).json()
    assert hotline["category"] == "environment.oily_smoke"  # from the hotline's own category
    # An inspector may only report for their own department.
    body, _ = bodies(n + "x")["inspection"]
    other = httpx.post(f"{stack.url('intake')}/api/channels/inspection",
                       json={**body, "department": "police"}, headers=INSPECTOR)
    assert other.status_code == 403


def test_field_errors_are_422_and_oversize_bodies_413(stack: Stack) -> None:
    body, headers = bodies(uuid.uuid4().hex[:8])["hotline_12345"]
    bad = {**body, "call_time": "yesterday", "caller": {"phone": "call me"},
           "hotline_category": "无法识别的分类"}
    r = httpx.post(f"{stack.url('intake')}/api/channels/hotline_12345", json=bad, headers=headers)
    assert r.status_code == 422
    fields = {tuple(e["loc"][1:]) for e in r.json()["detail"]}
    assert ("call_time",) in fields
    assert "call me" not in r.text  # values are never echoed
    unknown = httpx.post(f"{stack.url('intake')}/api/channels/hotline_12345",
                         json={**body, "hotline_category": "其他/咨询"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "category"]
    huge = httpx.post(f"{stack.url('intake')}/api/channels/hotline_12345",
                      json={**body, "content": "很长" * 40_000}, headers=headers)
    assert huge.status_code == 413
    photo = httpx.post(f"{stack.url('intake')}/api/attachments", headers=headers,
                       files={"file": ("big.jpg", b"\xff" * (11 * 1024 * 1024), "image/jpeg")})
    assert photo.status_code == 413
    small = httpx.post(f"{stack.url('intake')}/api/attachments", headers=headers,
                       files={"file": ("ok.jpg", b"\xff\xd8 photo", "image/jpeg")})
    assert small.status_code == 201 and small.json()["ref"].startswith("att://")


async def _publish(kafka: str, topic: str, messages: list[bytes]) -> list[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        return [await producer.send_and_wait(topic, m, key=b"k") for m in messages]
    finally:
        await producer.stop()


async def _read_all(kafka: str, topic: str, until: Any, rounds: int = 90) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest",
                                group_id=f"t-{uuid.uuid4()}")
    await consumer.start()
    seen: list[bytes] = []
    try:
        for _ in range(rounds):
            batch = await consumer.getmany(timeout_ms=500)
            seen += [m.value for ms in batch.values() for m in ms]
            if until(seen):
                break
    finally:
        await consumer.stop()
    return seen


async def test_every_channel_over_its_kafka_topic(stack: Stack, kafka: str) -> None:
    key = httpx.get(f"{stack.url('intake')}/api/channels/pii-key").json()
    n = uuid.uuid4().hex[:8]
    expected = {}
    for channel, (body, _) in bodies(n).items():
        message = dict(body)
        for field in ("caller", "petitioner"):
            if field in message:  # plain personal data never goes on Kafka
                message[field] = seal_for_transport(key["public_key_pem"], message[field])
        if channel == "inspection":
            message["sender"] = {"id": "um-9", "role": "department_staff", "name": "巡查员"}
        ref = body.get("inspection_ref") or body.get("work_order_no") or \
            body.get("incident_no") or body.get("petition_no")
        expected[channel] = str(report_id(channel, str(ref)))
        await _publish(kafka, CHANNEL_TOPICS[channel], [json.dumps(message).encode()])
    grid = {"external_ref": f"app-{n}", "category": "urban.garbage", "description": "垃圾满溢",
            "location": spot(), "sender": {"id": "gw-0001", "role": "grid_worker"}}
    await _publish(kafka, CHANNEL_TOPICS["grid_app"], [json.dumps(grid).encode()])
    expected["grid_app"] = str(report_id("grid_app", f"app-{n}"))
    for channel, case_id in expected.items():
        eventually(lambda c=case_id: dispatched(stack, c))
        report = httpx.get(f"{stack.url('intake')}/api/reports/{case_id}", headers=LEADER).json()
        assert report["channel"] == channel
    petition = httpx.get(f"{stack.url('intake')}/api/reports/{expected['petition']}",
                         headers=LEADER).json()
    assert petition["contact"] == {"role": "petitioner", "name": "张**", "phone": "138****5678",
                                   "id_number": "3503**********1234", "email": "",
                                   "erased": False}


async def test_a_bad_channel_message_is_dead_lettered_without_personal_data(
        stack: Stack, kafka: str) -> None:
    body, _ = bodies(uuid.uuid4().hex[:8])["hotline_12345"]
    plain = json.dumps(body).encode()  # caller in plain text: refused
    broken = json.dumps({**body, "call_time": "soon"}).encode()
    sent = await _publish(kafka, CHANNEL_TOPICS["hotline_12345"], [plain, broken, b"{oops"])
    origins = {f"{m.topic}:{m.partition}:{m.offset}" for m in sent}

    def letters(seen: list[bytes]) -> list[dict[str, Any]]:
        out = [json.loads(v) for v in seen]
        return [x for x in out if x["service"] == "intake" and
                "{topic}:{partition}:{offset}".format(**x["origin"]) in origins]

    seen = await _read_all(kafka, DEAD_LETTER, lambda s: len(letters(s)) == 3)
    mine = letters(seen)
    assert len(mine) == 3
    text = json.dumps(mine, ensure_ascii=False)
    assert PHONE not in text and ID_NUMBER not in text and "张三丰" not in text
    assert any("sealed for intake" in x["error"] for x in mine)
    assert any("call_time" in x["error"] for x in mine)


async def test_no_phone_or_id_pattern_in_any_intake_payload_or_log(
        stack: Stack, kafka: str) -> None:
    body, headers = bodies(uuid.uuid4().hex[:8])["petition"]
    r = httpx.post(f"{stack.url('intake')}/api/channels/petition", json=body, headers=headers)
    case_id = r.json()["case_id"]
    seen = await _read_all(kafka, INTAKE, lambda s: any(case_id.encode() in v for v in s))
    ours = [json.loads(v) for v in seen if case_id.encode() in v]
    assert ours and ours[0]["contact"]["ciphertext"] and ours[0]["contact"]["phone_masked"]
    for value in seen:
        text = value.decode()
        assert find_personal_patterns(text) == [], text[:200]
        assert PHONE not in text and ID_NUMBER not in text
    eventually(lambda: dispatched(stack, case_id))
    for log in stack.log_dir.glob("*.log"):
        text = log.read_text(errors="replace")
        assert PHONE not in text and ID_NUMBER not in text, log.name


def test_outside_every_grid_waits_for_manual_placement(stack: Stack) -> None:
    body, headers = bodies(uuid.uuid4().hex[:8])["hotline_12345"]
    body = {**body, "location": {"lon": 100.0, "lat": 30.0}, "address": "某路口"}
    r = httpx.post(f"{stack.url('intake')}/api/channels/hotline_12345", json=body, headers=headers)
    assert r.status_code == 202 and r.json()["placed"] is False
    assert r.json()["area_path"] == ["350300"]
    rid = r.json()["report_id"]
    queue = httpx.get(f"{stack.url('intake')}/api/reports/unplaced", headers=DISPATCHER).json()
    assert rid in [q["report_id"] for q in queue]
    assert httpx.get(f"{stack.url('intake')}/api/reports/unplaced",
                     headers=CHECKER).status_code == 403
    where = spot()
    placed = httpx.post(f"{stack.url('intake')}/api/reports/{rid}/placement",
                        json={"location": where}, headers=DISPATCHER)
    assert placed.status_code == 200, placed.text
    # The grid there, and the building when the spot is within a building's reach (1 in 40).
    expected = load_demo_registry().locate(where["lon"], where["lat"])
    assert expected is not None
    assert placed.json()["placed"] and placed.json()["area_path"] == list(expected.area_path)
    again = httpx.post(f"{stack.url('intake')}/api/reports/{rid}/placement",
                       json={"location": spot()}, headers=DISPATCHER)
    assert again.status_code == 409 and again.json()["rule"] == "already_placed"
    queue = httpx.get(f"{stack.url('intake')}/api/reports/unplaced", headers=DISPATCHER).json()
    assert rid not in [q["report_id"] for q in queue]
    file = eventually(lambda: _file_with(stack, rid, "case.placed"))
    placed_event = next(e for e in file if e["event_type"] == "case.placed")
    assert placed_event["actor"]["id"] == "dsp-9"


def _file_with(stack: Stack, case_id: str, event_type: str) -> list[dict[str, Any]] | None:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file", headers=LEADER)
    if r.status_code != 200:
        return None
    events: list[dict[str, Any]] = r.json()["events"]
    return events if any(e["event_type"] == event_type for e in events) else None


def test_open311_round_trip_in_json_and_xml_with_real_status(stack: Stack) -> None:
    base = f"{stack.url('intake')}/open311/v2"
    key = SYSTEM["Authorization"].removeprefix("Bearer ")
    services = httpx.get(f"{base}/services.json").json()
    assert {"service_code", "service_name", "description", "metadata", "type", "keywords",
            "group"} <= set(services[0])
    xml = ET.fromstring(httpx.get(f"{base}/services.xml").content)
    assert xml.tag == "services" and xml.find("service/service_code") is not None
    where = spot()
    form = {"api_key": key, "service_code": "urban.garbage", "lat": str(where["lat"]),
            "long": str(where["lon"]), "description": f"路边垃圾没人清运 {uuid.uuid4().hex[:6]}",
            "first_name": "Wei", "last_name": "Li",
            "phone": PHONE, "email": "li.wei@example.com"}
    created = httpx.post(f"{base}/requests.json", data=form)
    assert created.status_code == 201, created.text
    sr_id, token = created.json()[0]["service_request_id"], created.json()[0]["token"]
    tok = httpx.get(f"{base}/tokens/{token}.xml", params={"api_key": key})
    assert ET.fromstring(tok.content).findtext("request/service_request_id") == sr_id
    eventually(lambda: dispatched(stack, sr_id))

    def status(fmt: str) -> str | None:
        r = httpx.get(f"{base}/requests/{sr_id}.{fmt}", params={"api_key": key})
        if fmt == "json":
            return str(r.json()[0]["status_notes"]).split(";")[0]
        return ET.fromstring(r.content).findtext("request/status_notes")

    eventually(lambda: status("json") == "dispatched")
    one = httpx.get(f"{base}/requests/{sr_id}.json", params={"api_key": key}).json()[0]
    assert one["status"] == "open" and one["service_code"] == "urban.garbage"
    assert one["agency_responsible"] == "城市管理局" and one["lat"] == where["lat"]
    assert PHONE not in json.dumps(one) and "li.wei" not in json.dumps(one)
    for step, who, body in (("sign-for", STAFF, None), ("handle", STAFF, {"result": "已清运"}),
                            ("verify", CHECKER, {"passed": True, "method": "on_site"}),
                            ("close", DISPATCHER, None)):
        r = httpx.post(f"{stack.url('dispatch')}/api/cases/{sr_id}/{step}", json=body,
                       headers=who)
        assert r.is_success, (step, r.text)
    eventually(lambda: status("xml") == "closed")
    listed = ET.fromstring(httpx.get(f"{base}/requests.xml", params={
        "api_key": key, "service_code": "urban.garbage", "status": "closed"}).content)
    ours = [r for r in listed.findall("request") if r.findtext("service_request_id") == sr_id]
    assert ours and ours[0].findtext("status") == "closed"
    open_only = httpx.get(f"{base}/requests.json", params={"api_key": key, "status": "open",
                                                           "service_request_id": sr_id}).json()
    assert open_only == []
    # Errors are the spec's list of {code, description}, in the asked format.
    missing = httpx.post(f"{base}/requests.xml", data={"api_key": key, "service_code": "x.y"})
    assert missing.status_code == 404
    assert ET.fromstring(missing.content).findtext("error/code") == "404"
    nokey = httpx.post(f"{base}/requests.json", data={**form, "api_key": "forged"})
    assert nokey.status_code == 403 and nokey.json()[0]["code"] == 403
