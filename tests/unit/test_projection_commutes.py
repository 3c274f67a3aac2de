"""Property: the read model does not depend on how the topics' streams interleave.

Kafka keeps order only within a partition (one producer's events of one case). The live
service meets the four case topics in one interleaving, a rebuild in another; any
interleaving that keeps every partition's order must end in the same read model. The
scenarios are generated stories of several cases: reports, review, merges and splits,
dispatch with returns, signing for, handling, verification, closing, reopening,
extensions, urgency changes, evaluations, and supervision's alarms for current and
replaced deadlines.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.projections import tables as t
from services.projections.aggregates import totals
from services.projections.readmodel import CaseReadModel
from services.projections.rebuild import written_at_the_end
from shared.events import Actor, Channel, IntegrationEvent
from shared.events import dedup as d
from shared.events import dispatch as x
from shared.events import supervision as s
from shared.events.intake import CaseReported
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WHO = Actor(id="t", role="system", name="test")
TOPIC_OF = {"intake": "gov.intake.events", "dedup": "gov.dedup.events",
            "dispatch": "gov.dispatch.events", "supervision": "gov.supervision.events"}
PARTITIONS = 3
GRIDS = ["350300/350302/350302001/350302001001/350302001001001",
         "350300/350302/350302001/350302001001/350302001001002",
         "350300/350302/350302002/350302002001/350302002001001"]
CATEGORIES = ["urban.garbage", "safety.gas", "environment.noise"]
DEPARTMENTS = ["urban_mgmt", "emergency"]


@dataclass
class Story:
    """Events in the order they happened, each with the partition its case id keys."""

    rng: random.Random
    clock: datetime = T0
    events: list[IntegrationEvent] = field(default_factory=list)

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128))

    def emit(self, cls: type[IntegrationEvent], case_id: uuid.UUID, producer: str,
             **fields: Any) -> IntegrationEvent:
        self.clock += timedelta(minutes=self.rng.randint(1, 90))
        e = cls(event_id=self.uid(), case_id=case_id, occurred_at=self.clock,
                producer=producer, correlation_id=case_id, actor=WHO, **fields)
        self.events.append(e)
        return e


def report(story: Story, case_id: uuid.UUID, grid: str) -> None:
    rng = story.rng
    story.emit(CaseReported, case_id, "intake", report_id=case_id,
               channel=rng.choice([Channel.GRID_APP, Channel.HOTLINE_12345]),
               external_ref=str(case_id), category=rng.choice(CATEGORIES),
               title=rng.choice(["", "东门垃圾"]), description="d",
               area_path=tuple(grid.split("/")), reported_at=story.clock)


def register(story: Story, case_id: uuid.UUID, grid: str) -> None:
    rng = story.rng
    if rng.random() < 0.3:
        story.emit(d.ReviewQueued, case_id, "dedup", report_id=case_id,
                   channel=Channel.GRID_APP, reason="close call")
    story.emit(d.CaseRegistered, case_id, "dedup", report_id=case_id,
               channel=Channel.GRID_APP, category=rng.choice(CATEGORIES),
               title=rng.choice(["", "垃圾满溢"]), description="registered",
               place_code=rng.choice([None, grid.rsplit("/", 1)[-1]]),
               area_path=tuple(grid.split("/")), reported_at=story.clock)


def dispatch(story: Story, case_id: uuid.UUID, grid: str, round_: int) -> x.CaseDispatched:
    rng = story.rng
    e = story.emit(x.CaseDispatched, case_id, "dispatch", department=rng.choice(DEPARTMENTS),
                   category=rng.choice(CATEGORIES), area_path=tuple(grid.split("/")),
                   urgency=rng.choice(["normal", "urgent"]), round=round_,
                   sign_deadline=story.clock + timedelta(hours=4),
                   handle_deadline=story.clock + timedelta(days=3))
    assert isinstance(e, x.CaseDispatched)
    return e


def alarms(story: Story, case_id: uuid.UUID, dept: str, kind: str, deadline: datetime) -> None:
    """Supervision's alarms for one deadline (sometimes none, sometimes all three)."""
    rng = story.rng
    if rng.random() < 0.5:
        story.emit(s.CaseWarned, case_id, "supervision", department=dept, deadline_kind=kind,
                   deadline=deadline, elapsed_share=0.8)
    if rng.random() < 0.4:
        story.emit(s.CaseOverdue, case_id, "supervision", department=dept,
                   deadline_kind=kind, deadline=deadline)
        if rng.random() < 0.3:
            story.emit(s.CaseEscalated, case_id, "supervision", department=dept,
                       deadline_kind=kind, to_area="350300", reason="still overdue")


def work(story: Story, case_id: uuid.UUID, grid: str) -> None:
    """A dispatched case walked a random way through the department's steps."""
    rng = story.rng
    sent = dispatch(story, case_id, grid, 1)
    dept, handle_by = sent.department, sent.handle_deadline
    alarms(story, case_id, dept, "sign", sent.sign_deadline)
    if rng.random() < 0.25:
        story.emit(x.CaseReturned, case_id, "dispatch", department=dept, reason="not ours")
        sent = dispatch(story, case_id, grid, 2)
        dept, handle_by = sent.department, sent.handle_deadline
    story.emit(x.CaseSignedFor, case_id, "dispatch", department=dept)
    for _ in range(rng.randint(0, 3)):
        step = rng.choice(["alarm", "extend", "urgency"])
        if step == "alarm":
            alarms(story, case_id, dept, "handle", handle_by)
        elif step == "extend":
            previous, handle_by = handle_by, handle_by + timedelta(days=2)
            story.emit(x.CaseExtensionGranted, case_id, "dispatch", department=dept,
                       handle_deadline=handle_by, previous_deadline=previous)
        else:
            story.emit(x.CaseUrgencyChanged, case_id, "dispatch", department=dept,
                       urgency="urgent", previous="normal", reason="worse")
    if rng.random() < 0.3:
        return  # still open
    story.emit(x.CaseHandled, case_id, "dispatch", department=dept, result="done")
    story.emit(x.CaseVerified, case_id, "dispatch", passed=True, method="call_back",
               satisfaction=rng.choice([None, 3, 5]))
    story.emit(x.CaseClosed, case_id, "dispatch", department=dept, on_time=rng.random() < 0.5)
    if rng.random() < 0.3:
        handle_by = story.clock + timedelta(days=2)
        story.emit(x.CaseReopened, case_id, "dispatch", department=dept,
                   handle_deadline=handle_by)
        alarms(story, case_id, dept, "handle", handle_by)
    elif rng.random() < 0.5:
        story.emit(x.CaseEvaluated, case_id, "dispatch", satisfaction=rng.randint(1, 5))


def merge(story: Story, primary: uuid.UUID, grid: str) -> None:
    """A second report of the same problem: merged, and sometimes split out again."""
    rng = story.rng
    r = story.uid()
    report(story, r, grid)
    story.emit(d.ReportMerged, primary, "dedup", report_id=r, report_case_id=r,
               channel=Channel.HOTLINE_12345)
    if rng.random() < 0.4:
        story.emit(d.ReportSplit, r, "dedup", report_id=r, from_case_id=primary,
                   channel=Channel.HOTLINE_12345, reason="another problem")
        register(story, r, grid)
        if rng.random() < 0.5:
            work(story, r, grid)


def scenario(rng: random.Random, cases: int) -> list[IntegrationEvent]:
    story = Story(rng)
    for _ in range(cases):
        case_id, grid = story.uid(), rng.choice(GRIDS)
        report(story, case_id, grid)
        register(story, case_id, grid)
        for _ in range(rng.choice([0, 0, 1, 2])):
            merge(story, case_id, grid)
        if rng.random() < 0.85:
            work(story, case_id, grid)
    return story.events


def partition_streams(events: list[IntegrationEvent]) -> dict[tuple[str, int], list[Inbound]]:
    """Each (topic, partition) stream in its own order, with offsets."""
    streams: dict[tuple[str, int], list[Inbound]] = {}
    for e in events:
        key = (TOPIC_OF[e.producer], e.case_id.int % PARTITIONS)
        stream = streams.setdefault(key, [])
        stream.append(Inbound(key[0], key[1], len(stream), e))
    return streams


def live_batches(events: list[IntegrationEvent]) -> list[list[Inbound]]:
    """As they happened, one message per batch (a live consumer keeping up)."""
    streams = partition_streams(events)
    position = {key: 0 for key in streams}
    out = []
    for e in events:
        key = (TOPIC_OF[e.producer], e.case_id.int % PARTITIONS)
        out.append([streams[key][position[key]]])
        position[key] += 1
    return out


def shuffled_batches(events: list[IntegrationEvent], rng: random.Random) -> list[list[Inbound]]:
    """Another interleaving: a random partition's next batch, of random size, each time."""
    streams = {k: list(v) for k, v in partition_streams(events).items()}
    out = []
    while streams:
        key = rng.choice(sorted(streams))
        size = rng.randint(1, 6)
        out.append(streams[key][:size])
        del streams[key][:size]
        if not streams[key]:
            del streams[key]
    return out


def built(path: Path, name: str, batches: list[list[Inbound]],
          rebuilding: bool = False, kept_rows: int = 1000) -> dict[str, Any]:
    """The read model these batches build: live (every batch writes its rows and moves
    the counts) or as a rebuild by one worker builds it (the counts written at the end,
    the case rows kept in memory, at most `kept_rows` of them, the rest written early)."""
    model = CaseReadModel(ServiceSettings(service_name=name, data_dir=path))
    try:
        with written_at_the_end(model, limit=kept_rows) if rebuilding else nullcontext():
            for batch in batches:
                model.process_batch(batch)
        shot = model.snapshot()
        rows = [dict(zip(CASE_NAMES, r, strict=True))
                for r in shot["rm_cases"]]
        counts = {(a, dim, k): n for a, dim, k, _, n in shot["rm_counts"]}
        assert counts == {k: v for k, v in totals(rows).counts.items() if v}
        return shot
    finally:
        model.close()


CASE_NAMES = tuple(c.name for c in t.cases.columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), order=st.randoms(use_true_random=False),
       cases=st.integers(1, 5), kept_rows=st.sampled_from([1, 3, 1000]))
def test_any_interleaving_of_the_partitions_builds_the_same_read_model(
        seed: int, order: random.Random, cases: int, kept_rows: int) -> None:
    events = scenario(random.Random(seed), cases)
    with tempfile.TemporaryDirectory() as tmp:
        live = built(Path(tmp), "live", live_batches(events))
        again = built(Path(tmp), "again", shuffled_batches(events, order), rebuilding=True,
                      kept_rows=kept_rows)
    assert again == live


def test_a_merge_met_before_its_report_lands_merged() -> None:
    """The known case (issue 7): dedup's merge read before intake's report it merges."""
    story = Story(random.Random(7))
    primary, r = story.uid(), story.uid()
    grid = GRIDS[0]
    report(story, primary, grid)
    register(story, primary, grid)
    report(story, r, grid)
    story.emit(d.ReportMerged, primary, "dedup", report_id=r, report_case_id=r,
               channel=Channel.HOTLINE_12345)
    events = story.events
    merge_first = [e for e in events if e.producer == "dedup"] + \
                  [e for e in events if e.producer == "intake"]
    with tempfile.TemporaryDirectory() as tmp:
        live = built(Path(tmp), "live", live_batches(events))
        again = built(Path(tmp), "again", [[m] for m in _inbound_in(merge_first)])
    assert again == live
    assert [row[0] for row in live["rm_cases"]] == [str(primary)]
    assert live["rm_cases"][0][CASE_NAMES.index("report_count")] == 2
    assert live["rm_case_aliases"] == [(str(r), str(primary))]
    assert {e[1] for e in live["rm_case_events"]} == {str(primary)}


def _inbound_in(order: list[IntegrationEvent]) -> list[Inbound]:
    by_id = {m.event.event_id: m for stream in partition_streams(order).values()
             for m in stream if m.event is not None}
    return [by_id[e.event_id] for e in order]
