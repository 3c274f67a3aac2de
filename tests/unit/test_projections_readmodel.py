"""The read model on SQLite: roll-ups at every level, scoping, merges, and a rebuild in
another arrival order that ends in the same tables."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.projections import tables as t
from services.projections.__main__ import cli as projections_cli
from services.projections.aggregates import totals
from services.projections.api import narrowest
from services.projections.queries import CaseFilter
from services.projections.readmodel import CaseReadModel
from services.projections.rebuild import rebuild
from shared.events import Actor, Channel, IntegrationEvent
from shared.events.dedup import CaseRegistered, ReportMerged
from shared.events.dispatch import CaseClosed, CaseDispatched, CaseHandled, CaseSignedFor
from shared.events.intake import CaseReported
from shared.events.supervision import CaseOverdue
from shared.runtime.auth import Caller
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound

CITY = "350300"
TOWN_A = "350300/350302/350302001"
TOWN_B = "350300/350302/350302002"
GRID_A1 = f"{TOWN_A}/350302001001/350302001001001"
GRID_A2 = f"{TOWN_A}/350302001001/350302001001002"
GRID_B1 = f"{TOWN_B}/350302002001/350302002001001"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
WHO = Actor(id="t", role="system", name="test")
TOPIC_OF = {"intake": "gov.intake.events", "dedup": "gov.dedup.events",
            "dispatch": "gov.dispatch.events", "supervision": "gov.supervision.events"}


def envelope(case_id: uuid.UUID, producer: str, at: datetime) -> dict[str, Any]:
    return {"event_id": uuid.uuid4(), "case_id": case_id, "occurred_at": at,
            "producer": producer, "correlation_id": case_id, "actor": WHO}


def registered(case_id: uuid.UUID, area: str, category: str = "urban.garbage",
               at: datetime = T0, channel: Channel = Channel.GRID_APP) -> CaseRegistered:
    return CaseRegistered(**envelope(case_id, "dedup", at), report_id=case_id, channel=channel,
                          category=category, description="d", area_path=tuple(area.split("/")),
                          reported_at=at)


def reported(case_id: uuid.UUID, area: str, at: datetime = T0) -> CaseReported:
    return CaseReported(**envelope(case_id, "intake", at), report_id=case_id,
                        channel=Channel.HOTLINE_12345, external_ref=str(case_id),
                        category="urban.garbage", description="d",
                        area_path=tuple(area.split("/")), reported_at=at)


def dispatched(case_id: uuid.UUID, area: str, dept: str = "urban_mgmt",
               category: str = "urban.garbage", at: datetime = T0) -> CaseDispatched:
    return CaseDispatched(**envelope(case_id, "dispatch", at + timedelta(minutes=1)),
                          department=dept, category=category, area_path=tuple(area.split("/")),
                          urgency="normal", round=1, sign_deadline=at + timedelta(hours=4),
                          handle_deadline=at + timedelta(days=3))


def closed_story(case_id: uuid.UUID, at: datetime = T0,
                 dept: str = "urban_mgmt") -> list[IntegrationEvent]:
    return [CaseSignedFor(**envelope(case_id, "dispatch", at + timedelta(hours=1)), department=dept),
            CaseHandled(**envelope(case_id, "dispatch", at + timedelta(hours=2)), department=dept,
                        result="ok"),
            CaseClosed(**envelope(case_id, "dispatch", at + timedelta(days=1)), department=dept,
                       on_time=True)]


def overdue(case_id: uuid.UUID, at: datetime = T0) -> CaseOverdue:
    return CaseOverdue(**envelope(case_id, "supervision", at + timedelta(days=4)),
                       department="urban_mgmt", deadline_kind="handle",
                       deadline=at + timedelta(days=3))


class Log:
    """A fake event log: per-topic offsets, fed to the read model in partition batches."""

    def __init__(self) -> None:
        self.messages: list[Inbound] = []
        self.offsets: dict[str, int] = {}

    def add(self, *events: IntegrationEvent) -> None:
        for e in events:
            topic = TOPIC_OF[e.producer]
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            self.messages.append(Inbound(topic, 0, offset, e))

    def feed(self, model: CaseReadModel, batch: int = 3, order: str = "live") -> None:
        by_topic: dict[str, list[Inbound]] = {}
        for m in self.messages:
            by_topic.setdefault(m.topic, []).append(m)
        if order == "live":  # interleaved as they happened
            for i in range(0, len(self.messages), 1):
                m = self.messages[i]
                model.process_batch([m])
            return
        topics = list(by_topic)
        random.Random(order).shuffle(topics)  # whole topics in another order: a rebuild
        for topic in topics:
            ms = by_topic[topic]
            for i in range(0, len(ms), batch):
                model.process_batch(ms[i : i + batch])


@pytest.fixture
def model(tmp_path: Path) -> CaseReadModel:
    return CaseReadModel(ServiceSettings(service_name="projections", data_dir=tmp_path))


def stored_counts(model: CaseReadModel) -> dict[tuple[str, str, str], int]:
    with model.engine.connect() as c:
        return {(r.area, r.dim, r.key): r.n for r in c.execute(t.counts.select()) if r.n}


def city_story() -> tuple[Log, dict[str, uuid.UUID]]:
    log = Log()
    ids = {name: uuid.uuid4() for name in ("a1", "a2", "b1", "merged", "late")}
    log.add(registered(ids["a1"], GRID_A1), dispatched(ids["a1"], GRID_A1),
            *closed_story(ids["a1"]))
    log.add(registered(ids["a2"], GRID_A2, "safety.ebike_charging"),
            dispatched(ids["a2"], GRID_A2, "emergency", "safety.ebike_charging"),
            overdue(ids["a2"]))
    log.add(registered(ids["b1"], GRID_B1, at=T0 + timedelta(days=8)),
            dispatched(ids["b1"], GRID_B1, at=T0 + timedelta(days=8)))
    # A hotline report that turns out to be the same problem as a1: merged into a1's file.
    log.add(reported(ids["merged"], GRID_A1, T0 + timedelta(hours=3)),
            ReportMerged(**envelope(ids["a1"], "dedup", T0 + timedelta(hours=3)),
                         report_id=ids["merged"], report_case_id=ids["merged"],
                         channel=Channel.HOTLINE_12345))
    # ... and a merge whose report arrives only after the merge (another topic, later).
    log.add(ReportMerged(**envelope(ids["b1"], "dedup", T0 + timedelta(days=8, hours=1)),
                         report_id=ids["late"], report_case_id=ids["late"],
                         channel=Channel.HOTLINE_12345),
            reported(ids["late"], GRID_A2, T0 + timedelta(days=8, hours=1)))
    return log, ids


def test_counts_roll_up_to_every_level_and_match_the_case_rows(model: CaseReadModel) -> None:
    log, _ = city_story()
    log.feed(model)
    rows = model.list_cases(CaseFilter(area=CITY), limit=500)[1]
    assert len(rows) == 3  # merged reports are not cases of their own
    assert stored_counts(model) == {k: v for k, v in totals(rows).counts.items() if v}

    city = model.summary(CITY)
    assert city["totals"]["total"] == 3 and city["totals"]["open"] == 2
    assert city["totals"]["overdue"] == 1 and city["totals"]["closed"] == 1
    assert city["by_status"] == {"dispatched": 2, "closed": 1}
    assert city["by_channel"] == {"grid_app": 3}
    town_a = model.summary(TOWN_A)
    assert town_a["totals"]["total"] == 2
    assert town_a["by_category"] == {"safety.ebike_charging": 1, "urban.garbage": 1}
    assert [c["total"] for c in town_a["children"]] == [2]  # one village holds both grids
    assert model.summary(GRID_A2)["totals"] == {**model.summary(GRID_A2)["totals"],
                                                "total": 1, "overdue": 1}
    board = {d["department"]: d for d in city["departments"]}
    assert board["urban_mgmt"]["total"] == 2 and board["urban_mgmt"]["closure_rate"] == 0.5
    assert board["urban_mgmt"]["on_time_rate"] == 1.0
    assert board["emergency"]["overdue"] == 1
    grids = model.level_counts(CITY, 5)
    assert [(g["code"], g["total"]) for g in grids] == [
        ("350302001001001", 1), ("350302001001002", 1), ("350302002001001", 1)]


def test_a_merged_report_joins_the_primary_file_whatever_the_order(
        model: CaseReadModel) -> None:
    log, ids = city_story()
    log.feed(model)
    a1 = model.get_case(ids["merged"])
    assert a1 is not None and a1["case_id"] == str(ids["a1"]) and a1["report_count"] == 2
    b1 = model.get_case(ids["b1"])
    assert b1 is not None and b1["report_count"] == 2 and b1["area_path"] == GRID_B1
    file = [e["event_type"] for e in model.case_file(ids["b1"])]
    assert file.count("case.reported") == 1 and "case.report_merged" in file


@pytest.mark.parametrize("order", ["rebuild-1", "rebuild-2", "rebuild-3"])
def test_a_rebuild_in_another_arrival_order_equals_the_live_model(
        tmp_path: Path, order: str) -> None:
    log, _ = city_story()
    live = CaseReadModel(ServiceSettings(service_name="live", data_dir=tmp_path))
    log.feed(live)
    again = CaseReadModel(ServiceSettings(service_name="again", data_dir=tmp_path))
    log.feed(again, batch=4, order=order)
    assert again.snapshot() == live.snapshot()


def test_a_redelivered_batch_or_republished_event_changes_nothing(
        model: CaseReadModel) -> None:
    log, _ = city_story()
    log.feed(model)
    before = model.snapshot()
    assert model.process_batch(log.messages[:2]) is False  # behind the tracking position
    copy = Inbound(log.messages[0].topic, 0, 999, log.messages[0].event)  # same event id
    assert model.process_batch([copy]) is True
    assert model.snapshot() == before


def test_one_poll_of_several_partitions_is_recorded_together(tmp_path: Path) -> None:
    """A poll's batches of every topic in one transaction: the same tables as one batch at a
    time, and a redelivered partition's batch is left out while the others are applied."""
    log, _ = city_story()
    by_topic: dict[str, list[Inbound]] = {}
    for m in log.messages:
        by_topic.setdefault(m.topic, []).append(m)
    one_by_one = CaseReadModel(ServiceSettings(service_name="one", data_dir=tmp_path))
    log.feed(one_by_one)
    polled = CaseReadModel(ServiceSettings(service_name="polled", data_dir=tmp_path))
    intake, *others = by_topic.values()
    assert polled.process_partitions([intake]) == [True]
    # intake's batch comes again (a redelivery) beside the other topics' first batches
    assert polled.process_partitions([intake, *others]) == [False] + [True] * len(others)
    assert polled.snapshot() == one_by_one.snapshot()
    assert polled.process_partitions([intake, *others]) == [False] * (1 + len(others))
    assert polled.snapshot() == one_by_one.snapshot()


def test_lists_filter_and_stay_inside_the_scope(model: CaseReadModel) -> None:
    log, ids = city_story()
    log.feed(model)
    total, rows = model.list_cases(CaseFilter(area=TOWN_A, open=True), limit=50)
    assert total == 1 and rows[0]["case_id"] == str(ids["a2"])
    assert model.list_cases(CaseFilter(area=TOWN_B), limit=50)[0] == 1
    assert model.list_cases(CaseFilter(area=CITY, overdue=True), limit=50)[0] == 1
    assert model.list_cases(CaseFilter(area=CITY, department="emergency"), limit=50)[0] == 1
    day9 = (T0 + timedelta(days=8)).date()
    assert model.list_cases(CaseFilter(area=CITY, reported_from=day9), limit=50)[0] == 1
    # A sibling whose code merely starts with the same digits is not inside.
    assert model.list_cases(CaseFilter(area="350300/3503"), limit=50)[0] == 0


def test_narrowest_scope() -> None:
    town = Caller("c", "leader", "镇领导", "350302001")
    assert narrowest(town, None) == "350300/350302/350302001"
    assert narrowest(town, GRID_A1) == GRID_A1  # a part of one's own area
    assert narrowest(town, CITY) == TOWN_A  # asked wider: still only one's own
    assert narrowest(town, TOWN_B) is None  # another town: nothing


def test_trends_by_day_and_week(model: CaseReadModel) -> None:
    log, _ = city_story()
    log.feed(model)
    first, last = date(2026, 3, 2), date(2026, 3, 15)
    days = model.trend(CITY, first, last, "day")
    assert len(days) == 14 and days[0] == {"bucket": "2026-03-02", "reported": 2, "closed": 0}
    assert days[1]["closed"] == 1  # closed the next day
    weeks = model.trend(CITY, first, last, "week")
    assert weeks == [{"bucket": "2026-03-02", "reported": 2, "closed": 1},
                     {"bucket": "2026-03-09", "reported": 1, "closed": 0}]
    assert model.trend(TOWN_B, first, last, "week")[1]["reported"] == 1


def test_rebuild_workers_need_postgresql_and_nothing_is_touched_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GOV_DATA_DIR", str(tmp_path))
    said = CliRunner().invoke(projections_cli, ["rebuild", "--target", "x", "--workers", "2"])
    assert said.exit_code == 2 and "--workers needs PostgreSQL" in said.output
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        asyncio.run(rebuild(ServiceSettings(service_name="x", data_dir=tmp_path), workers=2))
    assert not list(tmp_path.iterdir())  # no read model was created, let alone dropped
