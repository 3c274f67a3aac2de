"""The case archive: hash chain verification at every byte, and time travel."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.archive import archive_id, verify_chain
from shared.events import dedup, dispatch
from shared.events.envelope import Channel
from shared.runtime.clock import DrivenClock
from tests.unit.test_supervision_story import AREA_A, STAFF, Story, t


@pytest.fixture
def settings(tmp_path: Path) -> SupervisionSettings:
    return SupervisionSettings(service_name="supervision", data_dir=tmp_path, clock="driven")


@pytest.fixture
def app(settings: SupervisionSettings) -> SupervisionApplication:
    return SupervisionApplication(settings, clock=DrivenClock(t(1, 8, month=11)))


def walked_case(story: Story) -> uuid.UUID:
    """A case walked to evaluated, with a second report merged into it."""
    case, other = uuid.uuid4(), uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9, 5), t(1, 12), t(3, 17, 30))
    story.report(other, t(1, 9, 30))
    story.feed(story.event(dedup.ReportMerged, case, t(1, 9, 31), report_id=other,
                           report_case_id=other, channel=Channel.HOTLINE_12345,
                           reason="同一地点同类问题"))
    story.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    story.step(dispatch.CaseHandled, case, t(2, 15), department="urban_mgmt", result="已清运")
    story.step(dispatch.CaseVerified, case, t(3, 9), passed=True, method="on_site")
    story.step(dispatch.CaseClosed, case, t(3, 10), department="urban_mgmt", on_time=True)
    story.step(dispatch.CaseEvaluated, case, t(3, 11), satisfaction=5)
    return case


def test_every_changed_byte_of_every_stored_event_breaks_the_chain_there(
        app: SupervisionApplication) -> None:
    case = walked_case(Story(app))
    stored = list(app.recorder.select_events(archive_id(case)))
    assert verify_chain(case, stored, app.mapper).ok and len(stored) == 9
    for i, record in enumerate(stored):
        for pos in range(len(record.state)):
            changed = bytearray(record.state)
            changed[pos] ^= 0x01
            tampered = [*stored[:i], StoredEvent(record.originator_id,
                                                 record.originator_version, record.topic,
                                                 bytes(changed)), *stored[i + 1:]]
            report = verify_chain(case, tampered, app.mapper)
            assert not report.ok and report.broken_at == i + 1, (i, pos, report)


def test_a_missing_or_reordered_entry_breaks_the_chain(app: SupervisionApplication) -> None:
    case = walked_case(Story(app))
    stored = list(app.recorder.select_events(archive_id(case)))
    assert verify_chain(case, stored[:3] + stored[4:], app.mapper).broken_at == 4
    swapped = [*stored[:2], stored[3], stored[2], *stored[4:]]
    assert verify_chain(case, swapped, app.mapper).broken_at == 3


def test_a_byte_changed_in_the_database_is_found_at_that_entry(
        app: SupervisionApplication, settings: SupervisionSettings) -> None:
    case = walked_case(Story(app))
    aid = archive_id(case).hex
    with sqlite3.connect(settings.sqlite_path()) as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")  # what only an intruder does
        state = conn.execute("SELECT state FROM stored_events WHERE originator_id = ? AND "
                             "originator_version = 6", (aid,)).fetchone()[0]
        changed = bytes(state).replace("已清运".encode(), "未清运".encode())
        assert changed != state
        conn.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
                     "originator_version = 6", (changed, aid))
    report = app.verify(case)
    assert not report["ok"]
    assert report["first_broken"]["broken_at"] == 6
    assert report["first_broken"]["reason"] == "hash does not match the entry's content"


def test_time_travel_shows_the_case_as_it_stood(app: SupervisionApplication) -> None:
    case = walked_case(Story(app))
    before = app.case_file(case, t(1, 9, 10))
    assert before["state"]["status"] == "dispatched"
    assert before["state"]["department"] == "urban_mgmt" and before["state"]["reports"] == [
        str(case)]
    assert [e["event_type"] for e in before["entries"]] == [
        "case.reported", "case.registered", "case.dispatched"]

    handled = app.case_file(case, t(2, 15))
    assert handled["state"]["status"] == "handled"
    assert len(handled["state"]["reports"]) == 2  # the merged hotline report is in the file
    assert handled["state"]["satisfaction"] is None

    now = app.case_file(case)
    assert now["state"]["status"] == "evaluated" and now["state"]["satisfaction"] == 5
    # The merged report's own entry sits before the merge, from its own archive.
    sources = [(e["event_type"], e["source"] == str(case)) for e in now["entries"]]
    merge = sources.index(("case.report_merged", True))
    assert sources[merge - 2:merge] == [("case.reported", False), ("case.registered", False)]
    assert len(now["entries"]) == 11
    assert [e["actor"]["id"] for e in now["entries"] if e["event_type"] == "case.handled"] == [
        STAFF.id]

    nothing_yet = t(1, 8)
    try:
        app.case_file(case, nothing_yet - timedelta(days=1))
    except Exception as exc:  # noqa: BLE001 - the type is asserted below
        assert type(exc).__name__ == "NotFoundError"
    else:
        raise AssertionError("a case before its first event must not exist")


def test_the_file_runs_in_the_order_things_happened_whatever_order_they_arrived_in(
        app: SupervisionApplication) -> None:
    story, case = Story(app), uuid.uuid4()
    story.dispatched(case, t(1, 9, 5), t(1, 12), t(3, 17, 30))  # its topic was faster
    story.report(case, t(1, 9))
    story.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    entries = app.case_file(case)["entries"]
    assert [e["event_type"] for e in entries] == [
        "case.reported", "case.registered", "case.dispatched", "case.signed_for"]
    assert [e["chain_seq"] for e in entries] == [2, 3, 1, 4]  # where each sits in the chain
    first = app.case_file(case, datetime.fromisoformat(entries[0]["occurred_at"]))
    assert [e["event_type"] for e in first["entries"]] == ["case.reported"]


def test_the_area_of_a_case_comes_from_its_events(app: SupervisionApplication) -> None:
    case = walked_case(Story(app))
    assert tuple(app.state(case)["area_path"]) == AREA_A
