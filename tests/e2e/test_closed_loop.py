"""A grid worker's report walks the whole loop through the real broker, and its complete
file is read back from the projections API: every event, in order, with who and when."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from govctl.processes import Stack
from services.intake.domain import report_id
from shared.events.topics import DEAD_LETTER, INTAKE
from shared.places.demo import load_demo_registry
from shared.places.model import Level
from tests.e2e.conftest import ADMIN, GRID_WORKER, LEADER, auth, eventually

pytestmark = pytest.mark.e2e

STAFF = auth("um-0042", "department_staff", "350300", "城管经办人", department="urban_mgmt")
CHECKER = auth("gw-0002", "grid_worker", "350300", "陈网格")
DISPATCHER = auth("dsp-01", "dispatcher", "350300", "派单员")


_GRIDS = itertools.count(200)


def distinct_spot() -> dict[str, float]:
    """The centre of a grid no other report here uses: dedup merges the same text at the
    same spot (as it should), so reports meant as separate cases stand apart."""
    grids = load_demo_registry().by_level(Level.GRID)
    centre = grids[next(_GRIDS) % len(grids)].shape().centroid
    return {"lon": round(centre.x, 6), "lat": round(centre.y, 6)}


def report(ref: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "external_ref": ref, "category": "urban.garbage", "title": "垃圾满溢",
        "description": "小区东门垃圾桶满溢，垃圾堆在路边两天没人清运。",
        "location": distinct_spot(), "attachments": ["photo://before-1.jpg"],
    }
    body.update(overrides)
    return body


def submit(stack: Stack, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{stack.url('intake')}/api/reports", json=body, headers=GRID_WORKER)


def case_status(stack: Stack, case_id: str) -> str | None:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=LEADER)
    return r.json()["status"] if r.status_code == 200 else None


def act(stack: Stack, case_id: str, step: str, who: dict[str, str],
        body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(f"{stack.url('dispatch')}/api/cases/{case_id}/{step}", json=body,
                      headers=who)


def test_a_report_walks_to_closed_and_its_file_tells_the_story(stack: Stack) -> None:
    r = submit(stack, report(f"e2e-{uuid.uuid4()}"))
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    assert r.json()["placed"] and r.json()["area_path"][0] == "350300"

    eventually(lambda: case_status(stack, case_id) == "dispatched")
    department = httpx.get(f"{stack.url('dispatch')}/api/cases/{case_id}",
                           headers=LEADER).json()["department"]
    assert department == "urban_mgmt"

    # An illegal step is refused with the rule's name and changes nothing.
    refused = act(stack, case_id, "handle", STAFF, {"result": "done"})
    assert refused.status_code == 409 and refused.json()["rule"] == "handle_requires_signed_for"
    # Another department may not act on it; a grid worker may not sign for it.
    police = auth("p-1", "department_staff", department="police")
    assert act(stack, case_id, "sign-for", police).json()["rule"] == "not_assigned_department"
    assert act(stack, case_id, "sign-for", CHECKER).status_code == 403

    assert act(stack, case_id, "sign-for", STAFF).is_success
    assert act(stack, case_id, "handle", STAFF, {"result": "已清运",
                                                 "evidence": ["photo://after.jpg"]}).is_success
    assert act(stack, case_id, "verify", CHECKER, {"passed": True, "method": "on_site",
                                                   "remark": "已整改"}).is_success
    assert act(stack, case_id, "close", DISPATCHER).is_success

    eventually(lambda: case_status(stack, case_id) == "closed")
    file = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file",
                     headers=LEADER).json()
    events = file["events"]
    assert [e["event_type"] for e in events] == [
        "case.reported", "case.registered", "case.dispatched", "case.signed_for",
        "case.handled", "case.verified", "case.closed"]
    assert [e["producer"] for e in events] == [
        "intake", "dedup", "dispatch", "dispatch", "dispatch", "dispatch", "dispatch"]
    who = [(e["actor"]["id"], e["actor"]["role"]) for e in events]
    assert who == [("gw-0001", "grid_worker"), ("dedup", "system"), ("dispatch", "system"),
                   ("um-0042", "department_staff"), ("um-0042", "department_staff"),
                   ("gw-0002", "grid_worker"), ("dsp-01", "dispatcher")]
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    # One chain: every event after the report is caused by the one before it or a person.
    assert {e["payload"]["correlation_id"] for e in events} == {case_id}
    assert events[1]["payload"]["causation_id"] == events[0]["event_id"]
    assert events[2]["payload"]["causation_id"] == events[1]["event_id"]
    assert file["case"]["department"] == "urban_mgmt"


def test_resubmitting_the_same_report_returns_the_same_case(stack: Stack) -> None:
    ref = f"e2e-{uuid.uuid4()}"
    first = submit(stack, report(ref))
    again = submit(stack, report(ref))
    assert first.status_code == 202 and again.status_code == 200
    assert first.json()["case_id"] == again.json()["case_id"]
    assert again.json()["duplicate_submission"] is True


def test_a_malformed_report_gets_field_errors_and_creates_nothing(stack: Stack) -> None:
    ref = f"bad-{uuid.uuid4()}"
    r = submit(stack, report(ref, category="no.such", description="", location=None,
                             reporter={"id": "x"}))
    assert r.status_code == 422
    fields = {tuple(e["loc"][1:]) for e in r.json()["detail"]}
    assert ("category",) in fields and ("description",) in fields
    assert ("reporter",) in fields  # not a field: who reports comes from the token
    rid = report_id("grid_app", ref)
    assert httpx.get(f"{stack.url('intake')}/api/reports/{rid}",
                     headers=LEADER).status_code == 404
    # Without a token nothing is accepted at all.
    anonymous = httpx.post(f"{stack.url('intake')}/api/reports", json=report(ref))
    assert anonymous.status_code == 401


def test_supervision_warns_marks_overdue_and_escalates_on_a_driven_clock(stack: Stack) -> None:
    r = submit(stack, report(f"e2e-{uuid.uuid4()}"))
    case_id = r.json()["case_id"]
    eventually(lambda: case_status(stack, case_id) == "dispatched")
    watch_url = f"{stack.url('supervision')}/api/supervision/cases/{case_id}"
    watch = eventually(lambda: httpx.get(watch_url, headers=LEADER).json()
                       if httpx.get(watch_url, headers=LEADER).status_code == 200 else None)
    handle_deadline = datetime.fromisoformat(watch["deadlines"]["handle"])
    later = (handle_deadline + timedelta(days=5)).isoformat()
    clock = f"{stack.url('supervision')}/api/supervision/clock"
    assert httpx.put(clock, json={"now": later}, headers=LEADER).status_code == 403
    moved = httpx.put(clock, json={"now": later}, headers=ADMIN)
    assert moved.status_code == 200, moved.text

    def alarms() -> list[str]:
        file = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file",
                         headers=LEADER).json()
        kinds = [e["event_type"] for e in file["events"] if e["producer"] == "supervision"]
        return kinds if len(kinds) == 8 else []

    kinds = eventually(alarms)
    # Both deadlines (sign and handle) passed: each warned, overdue, reminded (the next
    # working day), then escalated.
    assert sorted(kinds) == sorted(["case.warned", "case.overdue", "case.reminded",
                                    "case.escalated"] * 2)
    summary = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=LEADER).json()
    assert summary["overdue"] and summary["escalated"]

    # Moving the clock again fires nothing twice.
    again = httpx.put(clock, json={"now": later}, headers=ADMIN)
    assert again.json()["fired"] == 0


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_flow_goes_on(
        stack: Stack, kafka: str) -> None:
    poison = [b"{not json", json.dumps({"event_type": "case.reported", "case_id": "x"}).encode()]
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        sent = [await producer.send_and_wait(INTAKE, p, key=b"poison") for p in poison]
    finally:
        await producer.stop()
    origins = {f"{INTAKE}:{m.partition}:{m.offset}" for m in sent}

    # The flow goes on: a good report after the poison still reaches dispatch.
    r = submit(stack, report(f"e2e-{uuid.uuid4()}"))
    eventually(lambda: case_status(stack, r.json()["case_id"]) == "dispatched")

    consumer = AIOKafkaConsumer(DEAD_LETTER, bootstrap_servers=kafka,
                                auto_offset_reset="earliest", group_id=f"t-{uuid.uuid4()}")
    await consumer.start()
    letters: list[dict[str, object]] = []
    try:
        for _ in range(60):
            batch = await consumer.getmany(timeout_ms=500)
            letters += [json.loads(m.value) for ms in batch.values() for m in ms]
            seen = {(x["service"], "{topic}:{partition}:{offset}".format(**x["origin"]))
                    for x in letters}  # type: ignore[arg-type]
            if all((svc, o) in seen for svc in ("dedup", "projections") for o in origins):
                break
    finally:
        await consumer.stop()
    for svc in ("dedup", "projections"):
        for origin in origins:
            assert (svc, origin) in seen, f"{svc} did not dead-letter {origin}"
    for letter in letters:
        assert letter["error"] and "pos" not in str(letter.get("body", ""))
        assert "小区" not in json.dumps(letter, ensure_ascii=False)  # no message content
