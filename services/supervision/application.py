"""The supervision application: follows every case's deadlines and fires alarms once."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Literal

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError

from services.supervision.domain import Watch
from services.supervision.timers import Alarm, AlarmPolicy, TimerIndex
from shared.events import IntegrationEvent
from shared.events.dispatch import (
    CaseClosed,
    CaseDispatched,
    CaseHandled,
    CaseReopened,
    CaseSignedFor,
)
from shared.runtime.clock import Clock, DrivenClock, SystemClock
from shared.runtime.meta import meta_from, system_actor
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Handler, ServiceApplication
from shared.workcalendar import WorkCalendar

log = logging.getLogger(__name__)


class SupervisionSettings(ServiceSettings):
    clock: Literal["system", "driven"] = "system"  # driven: PUT /api/supervision/clock
    warn_share: float = 0.8
    escalate_after_hours: float = 8.0
    tick_seconds: float = 1.0


class SupervisionApplication(ServiceApplication):
    name = "supervision"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None,
                 calendar: WorkCalendar | None = None) -> None:
        super().__init__(settings)
        s = settings if isinstance(settings, SupervisionSettings) else SupervisionSettings()
        self.clock: Clock = clock or (DrivenClock() if s.clock == "driven" else SystemClock())
        self.timers = TimerIndex(calendar or WorkCalendar(),
                                 AlarmPolicy(s.warn_share, s.escalate_after_hours))
        self.timer_lock = threading.Lock()
        self.actor = system_actor("supervision")

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        return {
            CaseDispatched: self.on_dispatched,
            CaseSignedFor: self.on_signed_for,
            CaseHandled: self.on_handled,
            CaseReopened: self.on_reopened,
            CaseClosed: self.on_closed,
        }

    # -- policy: keep each watch in step with the case -----------------------------------

    def on_dispatched(self, e: CaseDispatched, processing: ProcessingEvent[uuid.UUID]) -> None:
        if self.exists(e.case_id, processing):
            watch: Watch = self.load(e.case_id, processing)
            cause = str(e.event_id)
            meta = meta_from(e, self.actor)
            watch.move_deadline("sign", e.occurred_at, e.sign_deadline, cause, meta)
            watch.move_deadline("handle", e.occurred_at, e.handle_deadline, cause + ":h", meta)
        else:
            watch = Watch(id=e.case_id, department=e.department, area_path=list(e.area_path),
                          started_at=e.occurred_at, sign_deadline=e.sign_deadline,
                          handle_deadline=e.handle_deadline, meta=meta_from(e, self.actor))
        processing.collect_events(watch)

    def on_signed_for(self, e: CaseSignedFor, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.complete("sign", meta_from(e, self.actor)))

    def on_handled(self, e: CaseHandled, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.complete("handle", meta_from(e, self.actor)))

    def on_reopened(self, e: CaseReopened, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.move_deadline(
            "handle", e.occurred_at, e.handle_deadline, str(e.event_id), meta_from(e, self.actor)))

    def on_closed(self, e: CaseClosed, processing: ProcessingEvent[uuid.UUID]) -> None:
        self._step(e, processing, lambda w: w.end(meta_from(e, self.actor)))

    def _step(self, e: IntegrationEvent, processing: ProcessingEvent[uuid.UUID],
              change: Callable[[Watch], None]) -> None:
        if not self.exists(e.case_id, processing):
            return  # dispatch events always follow CaseDispatched on the same partition
        watch: Watch = self.load(e.case_id, processing)
        change(watch)
        processing.collect_events(watch)

    # -- timers ---------------------------------------------------------------------------

    def refresh_timers(self) -> None:
        """Fold newly recorded watch events into the timer index."""
        while True:
            batch = self.recorder.select_notifications(self.timers.position + 1, 1000)
            for n in batch:
                if n.topic.endswith(("Watch.Started", "Watch.DeadlineMoved")):
                    self._schedule(self.mapper.to_domain_event(n))
            if not batch:
                return
            self.timers.position = batch[-1].id

    def _schedule(self, e: Any) -> None:
        if type(e).__name__ == "Started":
            self.timers.schedule(e.originator_id, "sign", e.started_at, e.sign_deadline)
            self.timers.schedule(e.originator_id, "handle", e.started_at, e.handle_deadline)
        else:
            self.timers.schedule(e.originator_id, e.kind, e.started_at, e.deadline)

    def fire_due(self) -> int:
        """Fire every alarm due now. Returns how many were recorded."""
        with self.timer_lock:
            self.refresh_timers()
            now = self.clock.now()
            fired = 0
            for alarm in self.timers.due(now):
                fired += self._fire(alarm)
            return fired

    def _fire(self, alarm: Alarm) -> int:
        watch: Watch = self.repository.get(alarm.case_id)
        to_area = watch.area_path[1] if len(watch.area_path) > 1 else watch.area_path[0]
        meta = {"actor": self.actor.model_dump(), "correlation_id": str(alarm.case_id),
                "causation_id": None}
        now = self.clock.now()
        started, deadline = watch.deadlines[alarm.kind]
        share = self.timers.calendar.elapsed_share(started, deadline, now)
        if not watch.alarm(alarm.kind, alarm.level, now, to_area, round(share, 3), meta):
            return 0
        try:
            self.save(watch)
        except IntegrityError:  # the case moved meanwhile (or another instance fired)
            self.timers.schedule_alarm(alarm)
            return 0
        return 1
