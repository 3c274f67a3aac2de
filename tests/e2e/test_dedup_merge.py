"""Duplicates through the real broker: one smoky restaurant reported by four channels
becomes one case with four reports; an uncertain report waits in the review queue until a
dispatcher confirms it; a merged report is split back out and dispatched on its own.

The grid worker reports over intake's HTTP route; the other channels' reports are put on
gov.intake.events as case.reported messages, as their channel adapters do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from govctl.processes import Stack
from shared.events import Actor, Channel, Location, serialize_event
from shared.events.intake import CaseReported
from shared.events.topics import INTAKE
from shared.places.demo import load_demo_registry
from tests.e2e.conftest import GRID_WORKER, LEADER, auth, eventually

pytestmark = pytest.mark.e2e

DISPATCHER = auth("dsp-07", "dispatcher", "350300", "派单员")
OPERATOR = Actor(id="op-12345", role="hotline_operator", name="话务员")

SMOKE = "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。"
CHANNEL_TEXTS = {
    "hotline_12345": ("food.restaurant_hygiene",
                      "市民来电反映：文献路18号老王烧烤油烟很大，熏得住户不敢开窗。诉求：请相关部门尽快处理。"),
    "police": ("environment.oily_smoke", "报警人称文献路18号老王烧烤店油烟直排，楼上住户不敢开窗。"),
    "petition": ("petition.general",
                 "信访人反映：文献路18号老王烧烤店长期油烟直排，熏得楼上住户不敢开窗，要求有关部门依法处理。"),
}


def spot(grid_no: int, dx: float = 0.0) -> tuple[float, float]:
    """A point inside the `grid_no`-th grid of the demo city, away from other tests."""
    from shared.places.model import Level

    grid = load_demo_registry().by_level(Level.GRID)[grid_no]
    c = grid.shape().centroid
    return c.x + dx, c.y


def case_reported(channel: str, category: str, text: str,
                  where: tuple[float, float] | None, near: tuple[float, float]) -> CaseReported:
    """A channel adapter's report, placed as intake places it."""
    ref = f"e2e-{uuid.uuid4()}"
    rid = uuid.uuid5(uuid.NAMESPACE_URL, ref)
    found = load_demo_registry().locate(*near)
    assert found is not None
    area = found.area_path if where else found.area_path[:5]  # no coordinates: the grid
    now = datetime.now(UTC)
    return CaseReported(
        event_id=uuid.uuid4(), case_id=rid, occurred_at=now, producer="intake",
        correlation_id=rid, actor=OPERATOR, report_id=rid, channel=Channel(channel),
        external_ref=ref, category=category, description=text,
        location=Location(lon=where[0], lat=where[1]) if where else None,
        place_code=area[-1], area_path=area, reported_at=now)


async def produce(kafka: str, *reports: CaseReported) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True)
    await producer.start()
    try:
        for r in reports:
            await producer.send_and_wait(INTAKE, serialize_event(r), key=str(r.case_id).encode(),
                                         headers=r.envelope_headers())
    finally:
        await producer.stop()


def grid_report(stack: Stack, text: str, category: str, where: tuple[float, float]) -> str:
    r = httpx.post(f"{stack.url('intake')}/api/reports", headers=GRID_WORKER, json={
        "category": category, "description": text,
        "location": {"lon": where[0], "lat": where[1]}})
    assert r.status_code == 202, r.text
    return str(r.json()["case_id"])


def dedup_view(stack: Stack, case_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{stack.url('dedup')}/api/dedup/cases/{case_id}", headers=LEADER)
    return r.json() if r.status_code == 200 else None


def projected(stack: Stack, case_id: str, path: str = "") -> dict[str, Any] | None:
    r = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}{path}", headers=LEADER)
    return r.json() if r.status_code == 200 else None


async def merged_case(stack: Stack, kafka: str, grid_no: int,
                      channels: tuple[str, ...]) -> tuple[str, list[CaseReported]]:
    """A grid worker's report, then the same restaurant from `channels`, merged into it."""
    where = spot(grid_no)
    primary = grid_report(stack, SMOKE, "environment.oily_smoke", where)
    eventually(lambda: dedup_view(stack, primary))
    others = [case_reported(ch, *CHANNEL_TEXTS[ch],
                            None if ch == "petition" else (where[0] + 3e-4, where[1]), where)
              for ch in channels]
    await produce(kafka, *others)
    eventually(lambda: len((dedup_view(stack, primary) or {}).get("reports", []))
               == 1 + len(others))
    return primary, others


async def test_four_channels_become_one_case_with_four_reports(stack: Stack,
                                                               kafka: str) -> None:
    primary, others = await merged_case(stack, kafka, 40, ("hotline_12345", "police",
                                                           "petition"))
    view = dedup_view(stack, primary)
    assert view is not None
    channels = [r["channel"] for r in view["reports"]]
    # The first report founded the case; the others joined in the order dedup consumed
    # them, which across partitions is any order.
    assert channels[0] == "grid_app"
    assert sorted(channels[1:]) == ["hotline_12345", "petition", "police"]
    # Each decision says why: the signals of the case the report joined.
    signals = view["decision"]  # the primary's own: a new case, no candidate near
    assert signals["outcome"] == "new"

    # Every reporter finds the one case: a merged report's own id answers with the primary.
    for report in others:
        answer = dedup_view(stack, str(report.case_id))
        assert answer is not None and answer["case_id"] == primary
        assert answer["asked_for"] == str(report.case_id)

    def file_complete() -> dict[str, Any] | None:
        file = projected(stack, primary, "/file")
        if not file or file["case"]["report_count"] != 4:
            return None
        reported = [e for e in file["events"] if e["event_type"] == "case.reported"]
        return file if len(reported) == 4 else None

    file = eventually(file_complete)
    channels = sorted(e["payload"]["channel"] for e in file["events"]
                      if e["event_type"] == "case.reported")
    assert channels == sorted(["grid_app", "hotline_12345", "police", "petition"])
    merges = [e for e in file["events"] if e["event_type"] == "case.report_merged"]
    assert len(merges) == 3
    assert all(m["payload"]["explanation"]["candidates"][0]["case_id"] == primary
               for m in merges)
    # One case went to a department, not four.
    eventually(lambda: (projected(stack, primary) or {}).get("status") == "dispatched")
    for report in others:
        assert projected(stack, str(report.case_id))["case_id"] == primary  # type: ignore[index]
        assert httpx.get(f"{stack.url('dispatch')}/api/cases/{report.case_id}",
                         headers=LEADER).status_code == 404


async def test_a_dispatcher_confirms_a_report_from_the_review_queue(stack: Stack,
                                                                    kafka: str) -> None:
    where = spot(80)
    first = grid_report(stack, "拱辰路菜市场门口流动摊贩占道经营，人车都过不去。",
                        "urban.street_vendor", where)
    eventually(lambda: dedup_view(stack, first))
    vague = case_reported("hotline_12345", "food.unlicensed",
                          "市民来电反映：拱辰路一带早上菜市场门口摆满了小摊，马路都堵住了。",
                          (where[0] + 7e-4, where[1] + 2e-4), where)
    await produce(kafka, vague)
    queue_url = f"{stack.url('dedup')}/api/dedup/review"

    def queued() -> dict[str, Any] | None:
        items = httpx.get(queue_url, headers=DISPATCHER).json()["items"]
        return next((i for i in items if i["report_case_id"] == str(vague.case_id)), None)

    item = eventually(queued)
    assert item["suggested_case_id"] == first and item["reason"] == "uncertain"
    assert item["candidates"][0]["signals"]["distance_m"] > 0
    eventually(lambda: (projected(stack, str(vague.case_id)) or {}).get("status")
               == "in_review")
    # Only a dispatcher reviews.
    assert httpx.get(queue_url, headers=GRID_WORKER).status_code == 403

    r = httpx.post(f"{queue_url}/{vague.case_id}/confirm", headers=DISPATCHER,
                   json={"remark": "同一个菜市场"})
    assert r.status_code == 200, r.text
    assert r.json()["case_id"] == first and len(r.json()["reports"]) == 2
    again = httpx.post(f"{queue_url}/{vague.case_id}/confirm", headers=DISPATCHER, json={})
    assert again.status_code == 409 and again.json()["rule"] == "not_in_review"
    assert queued() is None

    eventually(lambda: (projected(stack, first) or {}).get("report_count") == 2)
    file = projected(stack, first, "/file")
    assert file is not None
    merge = next(e for e in file["events"] if e["event_type"] == "case.report_merged")
    assert merge["actor"]["id"] == "dsp-07" and merge["actor"]["role"] == "dispatcher"


async def test_a_merged_report_is_split_back_out_and_dispatched(stack: Stack,
                                                                kafka: str) -> None:
    primary, (police,) = await merged_case(stack, kafka, 120, ("police",))
    eventually(lambda: (projected(stack, primary) or {}).get("report_count") == 2)
    url = f"{stack.url('dedup')}/api/dedup/cases/{primary}/reports/{police.case_id}/split"
    r = httpx.post(url, headers=DISPATCHER, json={"remark": "是隔壁另一家"})
    assert r.status_code == 200, r.text
    assert r.json()["case_id"] == str(police.case_id) and r.json()["status"] == "registered"
    assert [x["channel"] for x in dedup_view(stack, primary)["reports"]] == ["grid_app"]  # type: ignore[index]
    assert httpx.post(url, headers=DISPATCHER, json={}).status_code == 409

    # The report is a case of its own again: in the case list, with its own file, dispatched.
    eventually(lambda: (projected(stack, str(police.case_id)) or {}).get("status")
               == "dispatched")
    own = projected(stack, str(police.case_id), "/file")
    assert own is not None and own["case"]["case_id"] == str(police.case_id)
    kinds = [e["event_type"] for e in own["events"]]
    assert "case.reported" in kinds and "case.registered" in kinds
    assert own["case"]["channel"] == "police"
    registered = next(e for e in own["events"] if e["event_type"] == "case.registered")
    assert registered["payload"]["explanation"]["reason"] == "split"
    eventually(lambda: (projected(stack, primary) or {}).get("report_count") == 1)
    left = projected(stack, primary, "/file")
    assert left is not None
    assert [e["payload"]["channel"] for e in left["events"]
            if e["event_type"] == "case.reported"] == ["grid_app"]
