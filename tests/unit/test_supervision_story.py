"""Supervision told as a story on the embedded store: a case's events arrive from every
topic, its archive grows in arrival order, its watch fires warning, overdue, reminder and
escalation once each, a notice is issued and answered, and the timers survive a restart
(a new application over the same files)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.outbox import to_integration
from shared.events import Actor, Channel, IntegrationEvent, dedup, dispatch, intake
from shared.events.topics import DEDUP, DISPATCH, INTAKE, SUPERVISION
from shared.runtime.clock import DrivenClock
from shared.runtime.store import DomainError, Inbound

CST = timezone(timedelta(hours=8))
TOPIC = {"intake": INTAKE, "dedup": DEDUP, "dispatch": DISPATCH, "supervision": SUPERVISION}
GW = Actor(id="gw-1", role="grid_worker", name="林网格")
STAFF = Actor(id="um-1", role="department_staff", name="城管经办人")
SYSTEM = {"dedup": Actor(id="dedup", role="system"), "dispatch": Actor(id="dispatch",
                                                                       role="system")}
AREA_A = ("350300", "350302", "350302001")
AREA_B = ("350300", "350303", "350303001")


def t(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    """A moment in late 2026, Shanghai time (no holidays in these weeks)."""
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


class Story:
    """Builds a case's integration events and feeds them to the application as the
    consumer would: one batch per message, offsets growing per topic."""

    def __init__(self, app: SupervisionApplication) -> None:
        self.app = app
        self.offsets: dict[str, int] = defaultdict(int)

    def event(self, cls: type[IntegrationEvent], case_id: uuid.UUID, at: datetime,
              actor: Actor | None = None, **fields: Any) -> IntegrationEvent:
        producer = cls.__module__.rsplit(".", 1)[-1]
        return cls(event_id=uuid.uuid4(), case_id=case_id, occurred_at=at, producer=producer,
                   correlation_id=case_id, actor=actor or SYSTEM.get(producer, GW), **fields)

    def feed(self, *events: IntegrationEvent) -> None:
        for e in events:
            topic = TOPIC[e.producer]
            self.app.process_batch([Inbound(topic, 0, self.offsets[topic], e)])
            self.offsets[topic] += 1

    def relay_own(self) -> None:
        """What the relay and the consumer do with supervision's own events: publish them
        and archive them (the archive holds the case's alarms and notices too)."""
        start = self.offsets["relayed"]
        for n in self.app.recorder.select_notifications(start + 1, 1000):
            self.offsets["relayed"] = n.id
            integration = to_integration(self.app.mapper.to_domain_event(n))
            if integration is not None:
                self.feed(integration)

    # -- the steps of a case ------------------------------------------------------------

    def report(self, case_id: uuid.UUID, at: datetime, area: tuple[str, ...] = AREA_A,
               category: str = "urban.garbage") -> None:
        self.feed(self.event(intake.CaseReported, case_id, at, GW, report_id=case_id,
                             channel=Channel.GRID_APP, external_ref=str(case_id),
                             category=category, description="垃圾满溢", area_path=area,
                             reported_at=at),
                  self.event(dedup.CaseRegistered, case_id, at + timedelta(seconds=1),
                             report_id=case_id, channel=Channel.GRID_APP, category=category,
                             description="垃圾满溢", area_path=area, reported_at=at))

    def dispatched(self, case_id: uuid.UUID, at: datetime, sign_by: datetime,
                   handle_by: datetime, department: str = "urban_mgmt", round: int = 1,
                   area: tuple[str, ...] = AREA_A, handling_place: str | None = None) -> None:
        self.feed(self.event(dispatch.CaseDispatched, case_id, at, department=department,
                             category="urban.garbage", area_path=area, round=round,
                             sign_deadline=sign_by, handle_deadline=handle_by,
                             handling_place=handling_place))

    def step(self, cls: type[IntegrationEvent], case_id: uuid.UUID, at: datetime,
             **fields: Any) -> None:
        self.feed(self.event(cls, case_id, at, STAFF, **fields))


@pytest.fixture
def settings(tmp_path: Path) -> SupervisionSettings:
    return SupervisionSettings(service_name="supervision", data_dir=tmp_path, clock="driven")


@pytest.fixture
def app(settings: SupervisionSettings) -> SupervisionApplication:
    return SupervisionApplication(settings, clock=DrivenClock(t(1, 8, month=11)))


def alarms(app: SupervisionApplication, case_id: uuid.UUID) -> list[str]:
    return [f"{e['event_type']}:{e.get('deadline_kind', '')}"
            for e in app.get_archive(case_id).entries if e["producer"] == "supervision"]


def test_every_event_joins_the_archive_once_in_arrival_order(app: SupervisionApplication
                                                             ) -> None:
    story, case = Story(app), uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9, 5), t(1, 12), t(3, 17, 30))
    signed = story.event(dispatch.CaseSignedFor, case, t(1, 10), STAFF, department="urban_mgmt")
    story.feed(signed, signed)  # a republished event (same id) at a new offset
    kinds = [e["event_type"] for e in app.get_archive(case).entries]
    assert kinds == ["case.reported", "case.registered", "case.dispatched", "case.signed_for"]
    report = app.verify(case)
    assert report["ok"] and report["archives"][0]["entries"] == 4


def test_a_missed_deadline_warns_overdues_reminds_and_escalates_once(
        app: SupervisionApplication, settings: SupervisionSettings) -> None:
    story, case = Story(app), uuid.uuid4()
    story.report(case, t(1, 9))
    # Sign by Tuesday 12:00; handle by Thursday 17:30.
    story.dispatched(case, t(1, 9), t(1, 12), t(3, 17, 30))
    story.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    clock = app.clock
    assert isinstance(clock, DrivenClock)

    # The time limit holds 20.5 working hours (Tue 09:00-12:00, 14:00-17:30, Wed 7 h,
    # Thu 7 h); 80% is 16.4 h: 13.5 h by Wednesday's close, 2.9 h into Thursday, 11:24.
    clock.set(t(3, 11, 23))
    assert app.fire_due() == 0
    clock.set(t(3, 11, 24))
    assert app.fire_due() == 1
    clock.set(t(3, 17, 30))
    assert app.fire_due() == 1  # overdue at the deadline

    # Restart between scheduling and firing: a new application over the same store.
    again = SupervisionApplication(settings, clock=DrivenClock(t(3, 17, 31)))
    assert again.fire_due() == 0  # warned and overdue do not fire twice
    again.clock.set(t(4, 8, 29))  # type: ignore[attr-defined]
    assert again.fire_due() == 0
    again.clock.set(t(4, 8, 30))  # type: ignore[attr-defined]
    assert again.fire_due() == 1  # the reminder, at the opening of the next working day
    # Escalated 8 working hours after the deadline: Friday's 7 h, then Monday 09:30.
    again.clock.set(t(7, 9, 29))  # type: ignore[attr-defined]
    assert again.fire_due() == 0
    again.clock.set(t(7, 9, 30))  # type: ignore[attr-defined]
    assert again.fire_due() == 1
    again.clock.set(t(30, 12))  # type: ignore[attr-defined]
    assert again.fire_due() == 0

    story.app = again
    story.relay_own()
    assert alarms(again, case) == ["case.warned:handle", "case.overdue:handle",
                                   "case.reminded:handle", "case.escalated:handle"]
    assert again.verify(case)["ok"]


def test_an_extension_moves_the_alarms_and_a_handled_case_raises_none(
        app: SupervisionApplication) -> None:
    story, case = Story(app), uuid.uuid4()
    story.dispatched(case, t(1, 9), t(1, 12), t(3, 17, 30))
    story.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    story.step(dispatch.CaseExtensionGranted, case, t(2, 9), department="urban_mgmt",
               handle_deadline=t(8, 17, 30), previous_deadline=t(3, 17, 30))
    app.clock.set(t(4, 12))  # type: ignore[attr-defined]
    assert app.fire_due() == 0  # the old deadline no longer counts
    story.step(dispatch.CaseHandled, case, t(7, 9), department="urban_mgmt", result="已清运")
    app.clock.set(t(20, 12))  # type: ignore[attr-defined]
    # Only the warning of the extended phase was due before the case was handled.
    story.relay_own()
    assert alarms(app, case) == []


def test_a_return_pauses_the_watch_until_the_case_is_dispatched_again(
        app: SupervisionApplication) -> None:
    story, case = Story(app), uuid.uuid4()
    story.dispatched(case, t(1, 9), t(1, 12), t(3, 17, 30), department="police")
    story.feed(story.event(dispatch.CaseReturned, case, t(1, 10), STAFF, department="police",
                           reason="不属于本部门"))
    app.clock.set(t(2, 9))  # type: ignore[attr-defined]
    assert app.fire_due() == 0
    story.dispatched(case, t(2, 9), t(2, 12), t(4, 17, 30), round=2)
    watch = app.repository.get(case)
    assert watch.department == "urban_mgmt" and watch.done == set()
    app.clock.set(t(2, 12))  # type: ignore[attr-defined]
    assert app.fire_due() == 2  # the new sign deadline: warned, then overdue
    story.relay_own()
    assert [a.split(":")[0] for a in alarms(app, case)] == ["case.warned", "case.overdue"]
    assert {e["department"] for e in app.get_archive(case).entries
            if e["producer"] == "supervision"} == {"urban_mgmt"}


def test_a_notice_must_be_answered_by_its_deadline_or_it_becomes_overdue(
        app: SupervisionApplication) -> None:
    story, case = Story(app), uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9), t(1, 12), t(10, 17, 30))
    story.step(dispatch.CaseSignedFor, case, t(1, 9, 30), department="urban_mgmt")
    supervisor = Actor(id="sv-1", role="supervisor", name="效能办")
    app.clock.set(t(1, 10))  # type: ignore[attr-defined]
    first = app.issue_notice(case, "群众反映强烈，请说明进展", None, supervisor)
    # Default: 8 working hours from Tue 10:00 (5.5 h on Tuesday) is Wed 11:00.
    assert first["respond_by"] == t(2, 11) and first["notice_id"] == "1"
    second = app.issue_notice(case, "请于今日答复", t(1, 17), supervisor)

    with pytest.raises(DomainError) as refused:
        app.answer_notice(case, "1", "police", "不是我们", STAFF)
    assert refused.value.rule == "not_noticed_department"
    app.answer_notice(case, "1", "urban_mgmt", "已安排清运", STAFF)
    with pytest.raises(DomainError) as twice:
        app.answer_notice(case, "1", "urban_mgmt", "again", STAFF)
    assert twice.value.rule == "notice_answered"

    app.clock.set(t(1, 17))  # type: ignore[attr-defined]
    assert app.fire_due() == 1  # notice 2 unanswered at its deadline
    app.clock.set(t(3, 17))  # type: ignore[attr-defined]
    assert app.fire_due() == 0  # notice 1 was answered: it never becomes overdue
    story.relay_own()
    state = app.state(case)
    assert state["notices"]["1"]["on_time"] is True and not state["notices"]["1"]["overdue"]
    assert state["notices"][second["notice_id"]]["overdue"] is True
    assert state["notices"]["1"]["issued_by"]["id"] == "sv-1"

    story.step(dispatch.CaseClosed, case, t(3, 18), department="urban_mgmt", on_time=True)
    with pytest.raises(DomainError) as closed:
        app.issue_notice(case, "再督办", None, supervisor)
    assert closed.value.rule == "case_closed"


def test_stored_events_are_append_only_on_the_embedded_store(
        app: SupervisionApplication, settings: SupervisionSettings) -> None:
    import sqlite3

    Story(app).report(uuid.uuid4(), t(1, 9))
    with sqlite3.connect(settings.sqlite_path()) as conn:
        for sql in ("UPDATE stored_events SET state = x'00'", "DELETE FROM stored_events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)


def escalated_to(app: SupervisionApplication, story: Story, case: uuid.UUID) -> list[str]:
    story.relay_own()
    return [e["to_area"] for e in app.get_archive(case).entries
            if e["event_type"] == "case.escalated"]


@pytest.mark.parametrize(("handling_place", "supervisor"), [
    (AREA_A[2], AREA_A[1]),  # a town's case goes up to its district
    (AREA_A[1], AREA_A[0]),  # a district's case goes up to the city
    (AREA_A[0], AREA_A[0]),  # the city has no level above: it supervises itself
    (None, AREA_A[1]),       # a dispatch that named no handling place: the district
])
def test_escalation_goes_to_the_level_above_the_handling_level(
        app: SupervisionApplication, handling_place: str | None, supervisor: str) -> None:
    story, case = Story(app), uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9), t(1, 12), t(3, 17, 30), handling_place=handling_place)
    app.clock.set(t(30, 12))  # type: ignore[attr-defined]
    app.fire_due()
    assert escalated_to(app, story, case) == [supervisor, supervisor]  # sign and handle


def test_a_redispatch_to_another_level_escalates_above_the_new_level(
        app: SupervisionApplication) -> None:
    story, case = Story(app), uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9), t(1, 12), t(3, 17, 30), handling_place=AREA_A[2])
    story.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    # Arbitration sends it to the district's own department: same name, higher level.
    story.dispatched(case, t(2, 9), t(2, 12), t(4, 17, 30), round=2,
                     handling_place=AREA_A[1])
    app.clock.set(t(30, 12))  # type: ignore[attr-defined]
    app.fire_due()
    assert set(escalated_to(app, story, case)) == {AREA_A[0]}


def test_a_summoned_department_that_does_not_report_in_is_overdue_once(
        app: SupervisionApplication) -> None:
    """吹哨报到: of two summoned departments, the one that reported in is left alone."""
    story, case = Story(app), uuid.uuid4()
    story.report(case, t(1, 9))
    story.dispatched(case, t(1, 9), t(1, 12), t(10, 17, 30))
    story.step(dispatch.CaseSignedFor, case, t(1, 10), department="urban_mgmt")
    whistle = story.event(dispatch.CaseWhistleBlown, case, t(1, 11), number=1,
                          place=AREA_A[2], departments=("fire", "market"),
                          reason="群租房消防隐患", report_deadline=t(2, 11))
    story.feed(whistle, whistle)  # a republished whistle summons nobody twice
    story.feed(story.event(dispatch.CaseReportedIn, case, t(2, 9), number=1,
                           department="market", on_time=True))
    app.clock.set(t(2, 10, 59))  # type: ignore[attr-defined]
    assert app.fire_due() == 0
    app.clock.set(t(2, 11))  # type: ignore[attr-defined]
    assert app.fire_due() == 1
    app.clock.set(t(3, 11))  # type: ignore[attr-defined]
    assert app.fire_due() == 0
    story.relay_own()
    overdue = [e for e in app.get_archive(case).entries
               if e["event_type"] == "case.report_in_overdue"]
    assert [(e["number"], e["department"]) for e in overdue] == [(1, "fire")]
    assert app.verify(case)["ok"]
