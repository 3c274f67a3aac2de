"""A watch over one case's deadlines.

Each deadline is a phase (`sign`, or `handle` with a number that grows when a reopen,
an extension or a re-dispatch moves it). Alarms (warned, overdue, reminded, escalated)
fire at most once per phase: the watch remembers which fired, so a timer that runs twice,
or on two instances, changes nothing. Supervision notices (督办) live on the watch too:
each has its own response deadline, and an unanswered notice becomes overdue once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.runtime.store import DomainError, NotFoundError

Meta = dict[str, Any]
LEVELS = ("warned", "overdue", "reminded", "escalated")
NOTICE = "notice:"  # alarm kinds of notices are "notice:<notice id>"


def notice_kind(notice_id: str) -> str:
    return NOTICE + notice_id


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
        self.notices: dict[str, dict[str, Any]] = {}

    def key(self, kind: str, level: str) -> str:
        return f"{kind}:{self.phase.get(kind, 1)}:{level}"

    def is_due(self, kind: str, level: str) -> bool:
        """Whether this alarm may still fire: step not done, case open, not fired yet."""
        if self.ended or self.key(kind, level) in self.fired:
            return False
        if kind.startswith(NOTICE):
            notice = self.notices.get(kind[len(NOTICE):])
            return notice is not None and notice["answered_at"] is None
        return kind not in self.done

    def deadline_of(self, kind: str) -> tuple[datetime, datetime]:
        if kind.startswith(NOTICE):
            notice = self.notices[kind[len(NOTICE):]]
            return notice["issued_at"], notice["respond_by"]
        return self.deadlines[kind]

    def complete(self, kind: str, meta: Meta) -> None:
        if kind not in self.done and not self.ended:
            self._completed(kind=kind, meta=meta)

    def move_deadline(self, kind: str, started_at: datetime, deadline: datetime,
                      cause: str, meta: Meta) -> None:
        if cause not in self.applied and not self.ended:
            self._deadline_moved(kind=kind, started_at=started_at, deadline=deadline,
                                 cause=cause, meta=meta)

    def reassign(self, department: str, area_path: list[str], cause: str, meta: Meta) -> None:
        """A re-dispatch to another department: its alarms name the new department."""
        if department != self.department and cause not in self.applied and not self.ended:
            self._reassigned(department=department, area_path=area_path, cause=cause,
                             meta=meta)

    def issue_notice(self, notice_id: str, reason: str, issued_at: datetime,
                     respond_by: datetime, meta: Meta) -> None:
        """督办: a supervisor requires the department to respond by `respond_by`."""
        if self.ended:
            raise DomainError("case_closed", "a closed case takes no supervision notice")
        if notice_id in self.notices:
            raise DomainError("notice_exists", f"notice {notice_id} was already issued")
        if respond_by <= issued_at:
            raise DomainError("respond_by_in_past", "the response deadline must be later")
        self._notice_issued(notice_id=notice_id, department=self.department, reason=reason,
                            issued_at=issued_at, respond_by=respond_by, meta=meta)

    def answer_notice(self, notice_id: str, department: str, response: str, at: datetime,
                      meta: Meta) -> None:
        notice = self.notices.get(notice_id)
        if notice is None:
            raise NotFoundError("notice", notice_id)
        if department != notice["department"]:
            raise DomainError("not_noticed_department",
                              f"the notice is addressed to {notice['department']}")
        if notice["answered_at"] is not None:
            raise DomainError("notice_answered", "the notice was already answered")
        self._notice_answered(notice_id=notice_id, department=department, response=response,
                              at=at, on_time=at <= notice["respond_by"], meta=meta)

    def end(self, meta: Meta) -> None:
        if not self.ended:
            self._ended(meta=meta)

    def alarm(self, kind: str, level: str, at: datetime, to_area: str, elapsed_share: float,
              meta: Meta) -> bool:
        if not self.is_due(kind, level):
            return False
        self._alarmed(kind=kind, level=level, phase=self.phase.get(kind, 1), at=at,
                      deadline=self.deadline_of(kind)[1], department=self.department,
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

    @event("Reassigned")
    def _reassigned(self, department: str, area_path: list[str], cause: str,
                    meta: Meta) -> None:
        self.department = department
        self.area_path = area_path
        self.applied.add(cause)

    @event("NoticeIssued")
    def _notice_issued(self, notice_id: str, department: str, reason: str,
                       issued_at: datetime, respond_by: datetime, meta: Meta) -> None:
        self.notices[notice_id] = {"department": department, "reason": reason,
                                   "issued_at": issued_at, "respond_by": respond_by,
                                   "answered_at": None, "response": None}

    @event("NoticeAnswered")
    def _notice_answered(self, notice_id: str, department: str, response: str, at: datetime,
                         on_time: bool, meta: Meta) -> None:
        self.notices[notice_id].update(answered_at=at, response=response)

    @event("Ended")
    def _ended(self, meta: Meta) -> None:
        self.ended = True

    @event("Alarmed")
    def _alarmed(self, kind: str, level: str, phase: int, at: datetime, deadline: datetime,
                 department: str, to_area: str, elapsed_share: float, meta: Meta) -> None:
        self.fired.add(f"{kind}:{phase}:{level}")
