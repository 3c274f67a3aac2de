"""The dedup service told step by step, on its real event store (SQLite): four channels
report one smoky restaurant and one case comes out; an uncertain report waits for a person
who confirms or rejects it; a merged report is split back out; a repeat after closing is
linked; a restart rebuilds the index from the log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.dedup.application import DedupApplication, DedupSettings
from services.dedup.outbox import to_integration
from shared.events import Actor, Channel, IntegrationEvent, Location
from shared.events.dedup import (
    CaseRegistered,
    RepeatReported,
    ReportMerged,
    ReportSplit,
    ReviewQueued,
)
from shared.events.dispatch import CaseClosed
from shared.events.intake import CaseReported
from shared.events.topics import DISPATCH, INTAKE
from shared.runtime.store import DomainError, Inbound

T0 = datetime(2026, 5, 11, 19, 0, tzinfo=UTC)
AREA = ("350300", "350302", "350302001", "350302001001", "350302001001001")
SPOT = (119.0071, 25.3960)  # inside grid 350302001001001
DISPATCHER = Actor(id="dsp-1", role="dispatcher", name="派单员")
PERSON = Actor(id="caller", role="hotline_operator")


def reported(channel: str, text: str, *, at: datetime = T0, category: str =
             "environment.oily_smoke", where: tuple[float, float] | None = SPOT,
             title: str = "") -> CaseReported:
    ref = str(uuid.uuid4())
    rid = uuid.uuid5(uuid.NAMESPACE_URL, ref)
    return CaseReported(
        event_id=uuid.uuid4(), case_id=rid, occurred_at=at, producer="intake",
        correlation_id=rid, actor=PERSON, report_id=rid, channel=Channel(channel),
        external_ref=ref, category=category, title=title, description=text,
        location=Location(lon=where[0], lat=where[1]) if where else None,
        place_code=AREA[-1], area_path=AREA, reported_at=at)


class Feed:
    """Hands messages to the application the way the batch consumer does."""

    def __init__(self, app: DedupApplication) -> None:
        self.app = app
        self.offsets: dict[str, int] = {INTAKE: 0, DISPATCH: 0}

    def send(self, *events: IntegrationEvent, topic: str = INTAKE) -> None:
        batch = []
        for e in events:
            batch.append(Inbound(topic, 0, self.offsets[topic], e))
            self.offsets[topic] += 1
        assert self.app.process_batch(batch)


def published(app: DedupApplication) -> list[IntegrationEvent]:
    notes = app.recorder.select_notifications(1, 10_000)
    out = [to_integration(app.mapper.to_domain_event(n)) for n in notes]
    return [e for e in out if e is not None]


@pytest.fixture
def app(tmp_path: Path) -> DedupApplication:
    return DedupApplication(DedupSettings(service_name="dedup", data_dir=tmp_path))


def test_four_channels_report_one_restaurant_and_one_case_comes_out(
        app: DedupApplication) -> None:
    feed = Feed(app)
    grid = reported("grid_app", "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。")
    hotline = reported("hotline_12345", "市民来电反映：文献路18号老王烧烤油烟很大，熏得住户不敢开窗，"
                       "诉求：请相关部门尽快处理。", at=T0 + timedelta(hours=3),
                       category="food.restaurant_hygiene", where=(119.0075, 25.3962))
    # Two more arrive in one batch: the second must see the first's decision.
    police = reported("police", "报警人称文献路18号老王烧烤店油烟直排，楼上住户不敢开窗。",
                      at=T0 + timedelta(hours=5), where=(119.0072, 25.3961))
    petition = reported("petition", "信访人反映：文献路18号老王烧烤店长期油烟直排，熏得楼上住户"
                        "不敢开窗，要求有关部门依法处理。", at=T0 + timedelta(days=1),
                        category="petition.general", where=None)
    feed.send(grid)
    feed.send(hotline)
    feed.send(police, petition)

    primary = app.get_file(grid.case_id)
    assert [ch for _, ch in primary.members.values()] == [
        "grid_app", "hotline_12345", "police", "petition"]
    for other in (hotline, police, petition):
        assert app.get_file(other.case_id).primary_id == grid.case_id

    events = published(app)
    assert [type(e) for e in events] == [CaseRegistered, ReportMerged, ReportMerged,
                                         ReportMerged]
    merged = [e for e in events if isinstance(e, ReportMerged)]
    assert {e.case_id for e in merged} == {grid.case_id}
    assert [e.report_case_id for e in merged] == [hotline.case_id, police.case_id,
                                                  petition.case_id]
    # Every decision explains itself: the signals of the case it joined.
    signals = merged[0].explanation["candidates"][0]["signals"]
    assert signals["address"] == "match" and signals["distance_m"] < 60
    assert merged[0].explanation["candidates"][0]["case_id"] == str(grid.case_id)


def test_a_republished_report_changes_nothing(app: DedupApplication) -> None:
    feed = Feed(app)
    first = reported("grid_app", "梅园路路灯坏了好几天，晚上漆黑一片。", category="urban.streetlight")
    feed.send(first)
    feed.send(first)  # the same event at a new offset
    assert len(published(app)) == 1


def test_near_but_different_restaurants_stay_apart(app: DedupApplication) -> None:
    feed = Feed(app)
    a = reported("grid_app", "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。")
    b = reported("grid_app", "文献路26号川味小炒没有安装油烟净化器，油烟很大。",
                 at=T0 + timedelta(hours=2), where=(119.0080, 25.3963))
    feed.send(a, b)
    assert {type(e) for e in published(app)} == {CaseRegistered}
    assert app.get_file(b.case_id).primary_id is None


def uncertain_pair(app: DedupApplication) -> tuple[CaseReported, CaseReported]:
    """The same stall, told differently and geocoded some 290 m off: the matcher asks a
    person."""
    feed = Feed(app)
    first = reported("grid_app", "拱辰路菜市场门口流动摊贩占道经营，人车都过不去。",
                     category="urban.street_vendor")
    second = reported("hotline_12345", "市民来电反映：拱辰路菜市场门口早上摆满了小摊，马路都堵住了。",
                      at=T0 + timedelta(hours=20), category="food.unlicensed",
                      where=(119.0100, 25.3957))
    feed.send(first)
    feed.send(second)
    return first, second


def test_an_uncertain_report_waits_and_a_person_confirms_it(app: DedupApplication) -> None:
    first, second = uncertain_pair(app)
    queued = [e for e in published(app) if isinstance(e, ReviewQueued)]
    assert [e.case_id for e in queued] == [second.case_id]
    assert queued[0].explanation["case_id"] == str(first.case_id)
    assert [i["report_case_id"] for i in app.review_queue()] == [second.case_id]

    app.confirm(second.case_id, None, DISPATCHER, "同一个菜市场")
    assert app.get_file(second.case_id).primary_id == first.case_id
    merged = published(app)[-1]
    assert isinstance(merged, ReportMerged) and merged.actor.id == "dsp-1"
    assert merged.explanation["reason"] == "review_confirmed"
    assert app.review_queue() == []
    with pytest.raises(DomainError) as refused:
        app.reject(second.case_id, DISPATCHER, "")
    assert refused.value.rule == "not_in_review"


def test_a_rejected_duplicate_becomes_a_case_of_its_own(app: DedupApplication) -> None:
    _, second = uncertain_pair(app)
    app.reject(second.case_id, DISPATCHER, "不是同一处")
    registered = published(app)[-1]
    assert isinstance(registered, CaseRegistered) and registered.case_id == second.case_id
    assert registered.explanation["reason"] == "review_rejected"


def test_a_merged_report_is_split_back_out(app: DedupApplication) -> None:
    feed = Feed(app)
    a = reported("grid_app", "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。")
    b = reported("police", "报警人称文献路18号老王烧烤店油烟直排，楼上住户不敢开窗。",
                 at=T0 + timedelta(hours=1))
    feed.send(a, b)
    app.split(a.case_id, b.case_id, DISPATCHER, "是隔壁另一家")
    split, registered = published(app)[-2:]
    assert isinstance(split, ReportSplit) and split.case_id == b.case_id
    assert split.from_case_id == a.case_id
    assert isinstance(registered, CaseRegistered) and registered.case_id == b.case_id
    assert list(app.get_file(a.case_id).members) == [str(a.case_id)]
    # The index learnt it: a later report like b's is no longer merged into a.
    app.refresh_index()
    assert b.case_id in app.index.entries and app.index.resolve(b.case_id) == b.case_id
    with pytest.raises(DomainError):
        app.split(a.case_id, b.case_id, DISPATCHER, "")


def test_a_repeat_soon_after_closing_is_linked_and_flagged(app: DedupApplication) -> None:
    feed = Feed(app)
    a = reported("grid_app", "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。")
    feed.send(a)
    closed = CaseClosed(event_id=uuid.uuid4(), case_id=a.case_id,
                        occurred_at=T0 + timedelta(days=3), producer="dispatch",
                        correlation_id=a.case_id, actor=DISPATCHER, department="ecology",
                        on_time=True)
    feed.send(closed, topic=DISPATCH)
    again = reported("hotline_12345", "市民来电反映：文献路18号老王烧烤店又开始油烟直排，熏得住户不敢开窗。",
                     at=T0 + timedelta(days=8))
    feed.send(again)
    registered, repeat = published(app)[-2:]
    assert isinstance(registered, CaseRegistered) and registered.case_id == again.case_id
    assert registered.linked_case_id == a.case_id and registered.reopen_suggested
    assert isinstance(repeat, RepeatReported) and repeat.case_id == a.case_id
    assert repeat.report_case_id == again.case_id


def test_a_restart_rebuilds_the_index_from_the_log(tmp_path: Path) -> None:
    settings = DedupSettings(service_name="dedup", data_dir=tmp_path)
    app = DedupApplication(settings)
    first = reported("grid_app", "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。")
    Feed(app).send(first)
    app.close()

    again = DedupApplication(settings)  # a new process: nothing in memory
    assert first.case_id in again.index.entries
    later = reported("police", "报警人称文献路18号老王烧烤店油烟直排，楼上住户不敢开窗。",
                     at=T0 + timedelta(hours=2))
    feed = Feed(again)
    feed.offsets[INTAKE] = 1
    feed.send(later)
    assert again.get_file(later.case_id).primary_id == first.case_id


@pytest.mark.parametrize("text", ["", " ", "好", "？？？！！", "asdf qwer zxcv" * 0 + "。。"])
def test_garbage_text_is_never_merged_on_place_alone(app: DedupApplication, text: str) -> None:
    feed = Feed(app)
    feed.send(reported("grid_app", "文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗。"))
    bad = reported("grid_app", text or "x", at=T0 + timedelta(hours=1))
    feed.send(bad)
    case = app.get_file(bad.case_id)
    assert case.primary_id is None
    # On the very spot with the same category: a person looks at it.
    assert case.status == "in_review" and case.decision["reason"] == "text_unusable"


def test_a_report_without_location_far_from_anything_is_a_new_case(
        app: DedupApplication) -> None:
    bad = reported("petition", "没有位置的一件来信，说的是别处的事情。", where=None)
    Feed(app).send(bad)
    assert app.get_file(bad.case_id).status == "registered"
