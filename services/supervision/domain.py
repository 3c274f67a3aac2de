"""A watch over one case's deadlines.

Each deadline is a phase (`sign`, or `handle` with a number that grows when a reopen
moves it). Alarms (warned, overdue, escalated) fire at most once per phase: the watch
remembers which fired, so a timer that runs twice, or on two instances, changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

Meta = dict[str, Any]
LEVELS = ("warned", "overdue", "escalated")


class Watch(Aggregate):
    @event("Started")
    def __init__(self, id: uuid.UUID, department: str, area_path: list[str],
                 started_at: datetime, sign_deadline: datetime, handle_deadline: datetime,
                 meta: Meta) -> None:
        self.department = department
        self.area_path = area_path
        self.deadlines = {"sign": (started_at, sign_deadline), "handle": (started_at,
                                                                           handle_deadline)}
        self.phase = {"sign": 1, "handle": 1}
        self.done: set[str] = set()
        self.fired: set[str] = set()
        self.applied: set[str] = set()  # causes already applied (non-idempotent by state)
        self.ended = False

    def key(self, kind: str, level: str) -> str:
        return f"{kind}:{self.phase[kind]}:{level}"

    def is_due(self, kind: str, level: str) -> bool:
        """Whether this alarm may still fire: step not done, case open, not fired yet."""
        return not self.ended and kind not in self.done and self.key(kind, level) not in self.fired

    def complete(self, kind: str, meta: Meta) -> None:
        if kind not in self.done and not self.ended:
            self._completed(kind=kind, meta=meta)

    def move_deadline(self, kind: str, started_at: datetime, deadline: datetime,
                      cause: str, meta: Meta) -> None:
        if cause not in self.applied and not self.ended:
            self._deadline_moved(kind=kind, started_at=started_at, deadline=deadline,
                                 cause=cause, meta=meta)

    def end(self, meta: Meta) -> None:
        if not self.ended:
            self._ended(meta=meta)

    def alarm(self, kind: str, level: str, at: datetime, to_area: str, elapsed_share: float,
              meta: Meta) -> bool:
        if not self.is_due(kind, level):
            return False
        self._alarmed(kind=kind, level=level, phase=self.phase[kind], at=at,
                      deadline=self.deadlines[kind][1], department=self.department,
                      to_area=to_area, elapsed_share=elapsed_share, meta=meta)
        return True

    @event("Completed")
    def _completed(self, kind: str, meta: Meta) -> None:
        self.done.add(kind)

    @event("DeadlineMoved")
    def _deadline_moved(self, kind: str, started_at: datetime, deadline: datetime, cause: str,
                        meta: Meta) -> None:
        self.deadlines[kind] = (started_at, deadline)
        self.phase[kind] += 1
        self.done.discard(kind)
        self.applied.add(cause)

    @event("Ended")
    def _ended(self, meta: Meta) -> None:
        self.ended = True

    @event("Alarmed")
    def _alarmed(self, kind: str, level: str, phase: int, at: datetime, deadline: datetime,
                 department: str, to_area: str, elapsed_share: float, meta: Meta) -> None:
        self.fired.add(f"{kind}:{phase}:{level}")
