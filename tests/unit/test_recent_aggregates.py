"""A consumer keeps the aggregates it recorded and catches them up on the next poll,
instead of replaying each from its first event; what it keeps never runs ahead of the store."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.settings import IntakeSettings
from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.archive import archive_id
from shared.events import Channel, dedup, dispatch
from shared.events.topics import DEDUP
from shared.runtime.clock import DrivenClock
from shared.runtime.store import Inbound
from tests.unit.test_intake_erasure import report
from tests.unit.test_supervision_story import Story, t


def supervision(tmp_path: Path, cache: int = 2048) -> SupervisionApplication:
    settings = SupervisionSettings(service_name="supervision", data_dir=tmp_path,
                                   clock="driven", aggregate_cache_size=cache)
    return SupervisionApplication(settings, clock=DrivenClock(t(1, 8, month=11)))


def decoded_on_next_poll(app: Any, feed: Any) -> int:
    """How many stored events the next poll read back to rebuild its aggregates."""
    real, count = app.mapper.to_domain_event, 0

    def counting(stored: Any) -> Any:
        nonlocal count
        count += 1
        return real(stored)

    app.mapper.to_domain_event = counting  # type: ignore[method-assign]
    try:
        feed()
    finally:
        app.mapper.to_domain_event = real  # type: ignore[method-assign]
    return count


def dispatched_case(story: Story) -> uuid.UUID:
    case = uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9, 5), t(1, 12), t(3, 17, 30))
    return case


def entry_types(app: SupervisionApplication, case: uuid.UUID) -> list[str]:
    return [e["event_type"] for e in app.get_archive(case).entries]


@pytest.mark.parametrize("cache, reads_back", [(2048, False), (0, True)])
def test_the_next_poll_reads_back_only_what_it_did_not_record_itself(
        tmp_path: Path, cache: int, reads_back: bool) -> None:
    app = supervision(tmp_path, cache)
    story = Story(app)
    case = dispatched_case(story)
    decoded = decoded_on_next_poll(app, lambda: story.step(
        dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt"))
    # Without the cache the watch and the archive (three entries) are replayed.
    assert (decoded > 0) is reads_back
    assert entry_types(app, case)[-1] == "case.signed_for"
    assert app.verify_archive(case).ok


def test_events_another_instance_recorded_meanwhile_are_caught_up(tmp_path: Path) -> None:
    a, b = supervision(tmp_path), supervision(tmp_path)
    story_a, story_b = Story(a), Story(b)
    story_b.offsets = story_a.offsets  # one log, partitions handed from a to b and back
    case = dispatched_case(story_a)
    assert archive_id(case) in a.recent._kept
    story_b.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    decoded = decoded_on_next_poll(a, lambda: story_a.step(
        dispatch.CaseHandled, case, t(2, 15), department="urban_mgmt", result="已清运"))
    assert decoded == 2  # b's one event, on the watch and on the archive
    assert entry_types(a, case)[-2:] == ["case.signed_for", "case.handled"]
    assert a.verify_archive(case).ok


def test_an_aggregate_a_failed_recording_changed_is_not_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = supervision(tmp_path)
    story = Story(app)
    case = dispatched_case(story)
    signed = story.event(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    real, failures = app._record, [RuntimeError("the database went away mid-commit")]

    def record_fails_once(processing: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(processing)

    monkeypatch.setattr(app, "_record", record_fails_once)
    with pytest.raises(RuntimeError, match="went away"):
        story.feed(signed)
    # The archive the failed attempt appended to holds the event id already: had it been
    # kept, the redelivery would have found it there and added nothing.
    story.feed(signed)
    assert entry_types(app, case).count("case.signed_for") == 1
    assert app.verify_archive(case).ok


def test_the_oldest_are_dropped_past_the_size(tmp_path: Path) -> None:
    app = supervision(tmp_path, cache=3)
    story = Story(app)
    cases = [dispatched_case(story) for _ in range(3)]
    assert len(app.recent) == 3  # the last case's watch and archive, and one more
    assert set(app.recent._kept) >= {cases[-1], archive_id(cases[-1])}


def test_a_report_intake_just_received_is_followed_without_reading_it_back(
        tmp_path: Path) -> None:
    app = IntakeApplication(IntakeSettings(service_name="intake", data_dir=tmp_path))
    rid = report(app, "GD-7", {"name": "张三", "phone": "13812345678"})
    registered = Story(supervision(tmp_path / "s")).event(
        dedup.CaseRegistered, rid, t(1, 9), report_id=rid, channel=Channel.HOTLINE_12345,
        category="env.cooking_fumes", description="楼下油烟很大", area_path=("350300",),
        reported_at=t(1, 9))
    decoded = decoded_on_next_poll(app, lambda: app.process_batch(
        [Inbound(DEDUP, 0, 0, registered)]))
    assert decoded == 0
    assert app.recent._kept[rid].status == "registered"
    app.close()
