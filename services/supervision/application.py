"""The supervision application: follows every case's deadlines and fires alarms once,
issues supervision notices, and keeps every case's archive (一件一档) with its hash chain.

Every integration event of every case topic is appended to the case's `CaseArchive` in
arrival order, in the same transaction as the tracking row, before the policy reacts.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from pydantic import Field

from services.supervision import casefile
from services.supervision.archive import CaseArchive, ChainReport, archive_id, verify_chain
from services.supervision.domain import Watch, notice_kind, summons_kind
from services.supervision.evaluation import DEFAULT_WEIGHTS, Evaluator, ScoreFormula
from services.supervision.notices import FOLLOWED, NoticeIndex, State
from services.supervision.timers import Alarm, AlarmPolicy, TimerIndex
from shared.events import Actor, IntegrationEvent
from shared.events.dispatch import (
    CaseClosed,
    CaseDispatched,
    CaseExtensionGranted,
    CaseHandled,
    CaseReopened,
    CaseReportedIn,
    CaseReturned,
    CaseSignedFor,
    CaseWhistleBlown,
)
from shared.events.registry import wire_body
from shared.runtime.clock import Clock, DrivenClock, SystemClock
from shared.runtime.meta import command_meta, meta_from, system_actor
from shared.runtime.prefetch import prefetch
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import (
    DomainError,
    Handler,
    Inbound,
    NotFoundError,
    ServiceApplication,
)
from shared.runtime.tail import tail
from shared.workcalendar import WorkCalendar

log = logging.getLogger(__name__)

Entry = dict[str, Any]
COMMAND_RETRIES = 5
FIRE_BATCH = 500  # due alarms recorded per transaction
ARCHIVE_TOPICS = (get_topic(CaseArchive.Opened), get_topic(CaseArchive.Archived))
TIMED = ("Watch.Started", "Watch.DeadlineMoved", "Watch.NoticeIssued", "Watch.Summoned")
# The stored-event topics the timer and notice indexes fold: read by topic, so that the
# archive's entries (most of the log, and its largest rows) are never fetched to be skipped.
INDEXED_TOPICS = tuple(sorted(get_topic(getattr(Watch, name.removeprefix("Watch.")))
                              for name in {*TIMED, *FOLLOWED}))


class SupervisionSettings(ServiceSettings):
    clock: Literal["system", "driven"] = "system"  # driven: PUT /api/supervision/clock
    warn_share: float = Field(default=0.8, gt=0, lt=1)
    escalate_after_hours: float = Field(default=8.0, gt=0)
    remind: bool = True  # a reminder the working day after a missed deadline
    tick_seconds: float = 1.0
    notice_response_hours: float = Field(default=8.0, gt=0)  # default 督办 response limit
    evaluation_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    evaluation_overrun_penalty_per_hour: float = Field(default=1.0, ge=0)
    evaluation_overrun_penalty_cap: float = Field(default=20.0, ge=0)
    chromium: str = "chromium"  # the browser that prints the archive to PDF


class ArchiveIndex:
    """Every archive's entries, by case, tailed from the notification log (so it is
    rebuilt on restart and sees archives recorded by other instances)."""

    def __init__(self) -> None:
        self.position = 0
        self.entries: dict[uuid.UUID, list[Entry]] = {}
        self.case_of: dict[uuid.UUID, uuid.UUID] = {}  # archive id -> case id
        self.lock = threading.Lock()

    def refresh(self, app: ServiceApplication) -> None:
        with self.lock:
            while True:
                batch = app.recorder.select_notifications(self.position + 1, 1000,
                                                          topics=ARCHIVE_TOPICS)
                for n in batch:
                    self._add(app.mapper.to_domain_event(n))
                if not batch:
                    return
                self.position = batch[-1].id

    def _add(self, e: Any) -> None:
        if isinstance(e, CaseArchive.Opened):
            self.case_of[e.originator_id] = e.case_id
        self.entries.setdefault(self.case_of[e.originator_id], []).append(e.entry)


class SupervisionApplication(ServiceApplication):
    name = "supervision"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None,
                 calendar: WorkCalendar | None = None) -> None:
        super().__init__(settings)
        s = settings if isinstance(settings, SupervisionSettings) else SupervisionSettings()
        self.options = s
        self.clock: Clock = clock or (DrivenClock() if s.clock == "driven" else SystemClock())
        self.calendar = calendar or WorkCalendar()
        self.timers = TimerIndex(self.calendar,
                                 AlarmPolicy(s.warn_share, s.escalate_after_hours, s.remind))
        self.timer_lock = threading.Lock()
        self.notice_index = NoticeIndex()  # folded with the timers, under timer_lock
        self.watch_log = tail(self, topics=INDEXED_TOPICS)
        self.index = ArchiveIndex()
        self.evaluator = Evaluator(self.calendar, ScoreFormula(
            dict(s.evaluation_weights), s.evaluation_overrun_penalty_per_hour,
            s.evaluation_overrun_penalty_cap))
        self.actor = system_actor("supervision")

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        return {
            CaseDispatched: self.on_dispatched,
            CaseSignedFor: self.on_signed_for,
            CaseReturned: self.on_returned,
            CaseHandled: self.on_handled,
            CaseReopened: self.on_reopened,
            CaseExtensionGranted: self.on_extended,
            CaseClosed: self.on_closed,
            CaseWhistleBlown: self.on_whistle_blown,
            CaseReportedIn: self.on_reported_in,
        }

    def batch_aggregate_ids(self, messages: Sequence[Inbound]) -> set[uuid.UUID]:
        cases = super().batch_aggregate_ids(messages)
        return cases | {archive_id(c) for c in cases}

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        self.archive(domain_event, processing_event)
        super().policy(domain_event, processing_event)

    # -- the archive: every case event, in arrival order, hash-chained -------------------

    def archive(self, e: IntegrationEvent, processing: ProcessingEvent[uuid.UUID]) -> None:
        entry = wire_body(e)  # as the message's JSON says it
        aid = archive_id(e.case_id)
        arrived = datetime.now(UTC)  # when supervision learned it (the chain's time)
        try:  # one read: `exists` then `load` would replay the archive twice
            archive: CaseArchive = self.load(aid, processing)
            archive.append(entry, arrived)
        except AggregateNotFoundError:
            archive = CaseArchive.open(e.case_id, entry, arrived)
        processing.collect_events(archive)

    def get_archive(self, case_id: uuid.UUID) -> CaseArchive:
        try:
            archive: CaseArchive = self.repository.get(archive_id(case_id))
        except AggregateNotFoundError:
            raise NotFoundError("case", case_id) from None
        except Exception as exc:  # noqa: BLE001 - an unreadable stored event: name the fix
            raise DomainError("archive_damaged", f"the archive of case {case_id} cannot be "
                              f"read ({type(exc).__name__}); verify shows where") from None
        return archive

    def area_of(self, case_id: uuid.UUID) -> list[str]:
        """The case's area path, from its archive or, if that is damaged, its watch."""
        try:
            return list(self.state(case_id)["area_path"])
        except DomainError as damaged:
            if damaged.rule != "archive_damaged" or case_id not in self.repository:
                raise
            watch: Watch = self.repository.get(case_id)
            return list(watch.area_path)

    def file_entries(self, case_id: uuid.UUID) -> list[tuple[str, int, Entry]]:
        """The case's entries with every merged report's own entries placed before the
        merge: (archive, its chain sequence, entry)."""
        out: list[tuple[str, int, Entry]] = []
        for seq, entry in enumerate(self.get_archive(case_id).entries, start=1):
            if entry["event_type"] == "case.report_merged":
                report = uuid.UUID(entry["report_case_id"])
                try:
                    merged = self.get_archive(report).entries
                except NotFoundError:
                    merged = []  # the report's own events have not arrived yet
                out += [(str(report), n, e) for n, e in enumerate(merged, start=1)]
            out.append((str(case_id), seq, entry))
        return out

    def case_file(self, case_id: uuid.UUID, as_of: datetime | None = None) -> dict[str, Any]:
        """The file in the order things happened, not the order they arrived: a case's
        dispatch can reach the archive before its report (they come on different topics),
        and a reader travelling back through the file must meet the report first. The sort
        is stable: arrival breaks ties, as in `casefile.in_time_order`."""
        in_order = sorted(self.file_entries(case_id), key=lambda line: casefile.when(line[2]))
        lines = [(a, n, e) for a, n, e in in_order if as_of is None or casefile.when(e) <= as_of]
        if not lines:
            raise NotFoundError(f"case as of {as_of.isoformat() if as_of else 'now'}", case_id)
        state = casefile.fold(str(case_id), [e for _, _, e in lines])
        entries = [{**casefile.line(i, e, a), "chain_seq": n}
                   for i, (a, n, e) in enumerate(lines, start=1)]
        return {"case_id": str(case_id), "as_of": as_of.isoformat() if as_of else None,
                "state": state, "entries": entries}

    def state(self, case_id: uuid.UUID) -> dict[str, Any]:
        return casefile.fold(str(case_id), [e for _, _, e in self.file_entries(case_id)])

    def verify(self, case_id: uuid.UUID) -> dict[str, Any]:
        """The chain of the case's archive and of every report merged into it."""
        reports = [self.verify_archive(case_id)]
        entries = self.get_archive(case_id).entries if reports[0].ok else []
        for entry in entries:
            if entry["event_type"] == "case.report_merged":
                merged = uuid.UUID(entry["report_case_id"])
                if self.recorder.select_events(archive_id(merged), limit=1):
                    reports.append(self.verify_archive(merged))
        first = next((r for r in reports if not r.ok), None)
        return {"case_id": str(case_id), "ok": first is None,
                "first_broken": first.as_dict() if first else None,
                "archives": [r.as_dict() for r in reports]}

    def verify_archive(self, case_id: uuid.UUID) -> ChainReport:
        stored = self.recorder.select_events(archive_id(case_id))
        if not stored:
            raise NotFoundError("case", case_id)
        return verify_chain(case_id, stored, self.mapper)

    # -- evaluation ------------------------------------------------------------------------

    def case_states(self, within: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        self.index.refresh(self)
        with self.index.lock:
            snapshot = {k: list(v) for k, v in self.index.entries.items()}
        states = (casefile.fold(str(k), v) for k, v in snapshot.items())
        return [s for s in states if casefile.is_case(s) and s["dispatches"] and within(s)]

    def evaluate(self, by: Literal["department", "area"], within: Callable[[dict[str, Any]],
                 bool], level: int = 2) -> dict[str, Any]:
        now = self.clock.now()
        states = self.case_states(within)
        groups = (self.evaluator.by_department(states, now) if by == "department"
                  else self.evaluator.by_area(states, now, level))
        return {"as_of": now.isoformat(), "by": by, "level": level if by == "area" else None,
                "formula": {"weights": self.evaluator.formula.weights,
                            "overrun_penalty_per_hour":
                                self.evaluator.formula.overrun_penalty_per_hour,
                            "overrun_penalty_cap": self.evaluator.formula.overrun_penalty_cap},
                "groups": groups}

    # -- supervision notices (督办) ---------------------------------------------------------

    def get_watch(self, case_id: uuid.UUID) -> Watch:
        try:
            watch: Watch = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise DomainError("notice_requires_dispatch",
                              "the case has not been dispatched to a department yet") from None
        return watch

    def issue_notice(self, case_id: uuid.UUID, reason: str, respond_by: datetime | None,
                     actor: Actor) -> dict[str, Any]:
        def issue(watch: Watch) -> str:
            now = self.clock.now()
            deadline = respond_by or self.calendar.add_working_hours(
                now, self.options.notice_response_hours)
            notice_id = str(len(watch.notices) + 1)
            watch.issue_notice(notice_id, reason, now, deadline, command_meta(actor, case_id))
            return notice_id

        return self._on_watch(case_id, issue)

    def answer_notice(self, case_id: uuid.UUID, notice_id: str, department: str,
                      response: str, actor: Actor) -> dict[str, Any]:
        def answer(watch: Watch) -> str:
            watch.answer_notice(notice_id, department, response, self.clock.now(),
                                command_meta(actor, case_id))
            return notice_id

        return self._on_watch(case_id, answer)

    def notices(self, area: str, department: str | None = None, state: State = "open"
                ) -> list[dict[str, Any]]:
        """Notices on cases at or below `area`, from the index (caught up with the log)."""
        with self.timer_lock:
            self.refresh_timers()
            return self.notice_index.select(self.clock.now(), area, department, state)

    def _on_watch(self, case_id: uuid.UUID, change: Callable[[Watch], str]) -> dict[str, Any]:
        """get -> change -> save; a timer or the consumer writing the same watch meanwhile
        is expected here, so the command is tried again against the fresh watch."""
        for attempt in range(COMMAND_RETRIES):
            watch = self.get_watch(case_id)
            notice_id = change(watch)
            try:
                self.save(watch)
            except IntegrityError:
                if attempt == COMMAND_RETRIES - 1:
                    raise
                continue
            return {"notice_id": notice_id, **watch.notices[notice_id]}
        raise AssertionError("unreachable")

    # -- policy: keep each watch in step with the case -----------------------------------

    def on_dispatched(self, e: CaseDispatched, processing: ProcessingEvent[uuid.UUID]) -> None:
        if self.exists(e.case_id, processing):
            watch: Watch = self.load(e.case_id, processing)
            if e.occurred_at <= watch.deadlines["sign"][0]:
                return  # a replay of the dispatch this watch already follows
            cause = str(e.event_id)
            meta = meta_from(e, self.actor)
            watch.reassign(e.department, list(e.area_path), cause + ":r", meta,
                           e.handling_place)
            watch.move_deadline("sign", e.occurred_at, e.sign_deadline, cause, meta)
            watch.move_deadline("handle", e.occurred_at, e.handle_deadline, cause + ":h", meta)
        else:
            watch = Watch(id=e.case_id, department=e.department, area_path=list(e.area_path),
                          started_at=e.occurred_at, sign_deadline=e.sign_deadline,
                          handle_deadline=e.handle_deadline, meta=meta_from(e, self.actor),
                          handling_place=e.handling_place)
        processing.collect_events(watch)

    def on_signed_for(self, e: CaseSignedFor, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.complete("sign", meta_from(e, self.actor)))

    def on_returned(self, e: CaseReturned, processing: ProcessingEvent[uuid.UUID]) -> None:
        """A return answers the dispatch; nothing runs until the case is re-dispatched."""
        def pause(w: Watch) -> None:
            w.complete("sign", meta_from(e, self.actor))
            w.complete("handle", meta_from(e, self.actor))
        self._step(e, processing, pause)

    def on_handled(self, e: CaseHandled, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.complete("handle", meta_from(e, self.actor)))

    def on_reopened(self, e: CaseReopened, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.move_deadline(
            "handle", e.occurred_at, e.handle_deadline, str(e.event_id), meta_from(e, self.actor)))

    def on_extended(self, e: CaseExtensionGranted,
                    processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.move_deadline(
            "handle", w.deadlines["handle"][0], e.handle_deadline, str(e.event_id),
            meta_from(e, self.actor)))

    def on_closed(self, e: CaseClosed, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.end(meta_from(e, self.actor)))

    def on_whistle_blown(self, e: CaseWhistleBlown,
                         processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.summon(
            e.number, list(e.departments), e.occurred_at, e.report_deadline,
            meta_from(e, self.actor)))

    def on_reported_in(self, e: CaseReportedIn, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.report_in(
            e.number, e.department, e.occurred_at, meta_from(e, self.actor)))

    def _step(self, e: IntegrationEvent, processing: ProcessingEvent[uuid.UUID],
              change: Callable[[Watch], None]) -> None:
        if not self.exists(e.case_id, processing):
            return  # dispatch events always follow CaseDispatched on the same partition
        watch: Watch = self.load(e.case_id, processing)
        change(watch)
        processing.collect_events(watch)

    # -- timers ---------------------------------------------------------------------------

    def refresh_timers(self) -> None:
        """Fold newly recorded watch events into the timer and notice indexes."""
        # The position is the last folded event's id: the events after it that the tail
        # leaves out are of no interest to either index.
        for last, events in self.watch_log.runs(self.timers.position):
            for e in events:
                if type(e).__qualname__ in TIMED:
                    self._schedule(e)
                self.notice_index.fold(e)
            self.timers.position = last

    def _schedule(self, e: Any) -> None:
        match type(e).__name__:
            case "Started":
                self.timers.schedule(e.originator_id, "sign", e.started_at, e.sign_deadline)
                self.timers.schedule(e.originator_id, "handle", e.started_at, e.handle_deadline)
            case "NoticeIssued":
                self.timers.schedule_overdue(e.originator_id, notice_kind(e.notice_id),
                                            e.respond_by)
            case "Summoned":
                for department in e.departments:
                    self.timers.schedule_overdue(
                        e.originator_id, summons_kind(e.number, department), e.deadline)
            case _:
                self.timers.schedule(e.originator_id, e.kind, e.started_at, e.deadline)

    def fire_due(self) -> int:
        """Fire every alarm due now, a batch of watches per transaction. Returns how many
        were recorded. Alarms not recorded when this fails are due again at once."""
        with self.timer_lock:
            self.refresh_timers()
            now = self.clock.now()
            due = self.timers.due(now)
            fired = 0
            try:
                while due:
                    fired += self._fire_batch(due[:FIRE_BATCH], now)
                    due = due[FIRE_BATCH:]
            except BaseException:
                for alarm in due:  # one already recorded is refused by its watch next time
                    self.timers.schedule_alarm(alarm)
                raise
            return fired

    def _fire_batch(self, alarms: Sequence[Alarm], now: datetime) -> int:
        """The batch's watches loaded in one query and saved in one transaction (after an
        outage or a jump of the driven clock, thousands are due at once). A watch another
        writer moved meanwhile fails the batch: each alarm is then fired on its own."""
        watches = prefetch(self.recorder, self.mapper, {a.case_id for a in alarms})
        changed: dict[uuid.UUID, Watch] = {}
        fired = 0
        for alarm in alarms:
            watch = watches.get(alarm.case_id)
            if watch is not None and self._alarm(watch, alarm, now):
                changed[alarm.case_id] = watch
                fired += 1
        if not changed:
            return 0
        try:
            self.save(*changed.values())
        except IntegrityError:
            return sum(self._fire(alarm, now) for alarm in alarms)
        return fired

    def _fire(self, alarm: Alarm, now: datetime) -> int:
        watch: Watch = self.repository.get(alarm.case_id)
        if not self._alarm(watch, alarm, now):
            return 0
        try:
            self.save(watch)
        except IntegrityError:  # the case moved meanwhile (or another instance fired)
            self.timers.schedule_alarm(alarm)
            return 0
        return 1

    def _alarm(self, watch: Watch, alarm: Alarm, now: datetime) -> bool:
        """Raise the alarm on the watch (not saved); False when it is stale or raised."""
        started, deadline = watch.deadline_of(alarm.kind)
        if alarm.deadline is not None and deadline != alarm.deadline:
            return False  # stale: this deadline was moved (reopen, extension, re-dispatch)
        share = self.timers.calendar.elapsed_share(started, deadline, now)
        meta = {"actor": self.actor.model_dump(), "correlation_id": str(alarm.case_id),
                "causation_id": None}
        return bool(watch.alarm(alarm.kind, alarm.level, now, watch.supervising_area,
                                round(share, 3), meta))
