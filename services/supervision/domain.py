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
REPORT_IN = "report_in:"  # of a whistle's summons: "report_in:<whistle number>:<department>"


def notice_kind(notice_id: str) -> str:
    return NOTICE + notice_id


def summons_kind(number: int, department: str) -> str:
    return f"{REPORT_IN}{number}:{department}"


def supervising_area(area_path: list[str], handling_place: str | None) -> str:
    """提级: the place one level above the one handling the case (a town's case goes to its
    district, a district's to the city; the city supervises itself). Watches started before
    the handling place was recorded escalate to the district, as they always did."""
    if handling_place in area_path:
        return area_path[max(area_path.index(handling_place) - 1, 0)]
    return area_path[1] if len(area_path) > 1 else area_path[0]


class Watch(Aggregate):
    @event("Started")
    def __init__(self, id: uuid.UUID, department: str, area_path: list[str],
                 started_at: datetime, sign_deadline: datetime, handle_deadline: datetime,
                 meta: Meta, handling_place: str | None = None) -> None:
        self.department = department
        self.area_path = area_path
        self.handling_place = handling_place
        self.deadlines = {"sign": (started_at, sign_deadline), "handle": (started_at,
                                                                           handle_deadline)}
        self.phase = {"sign": 1, "handle": 1}
        self.done: set[str] = set()
        self.fired: set[str] = set()
        self.applied: set[str] = set()  # causes already applied (non-idempotent by state)
        self.ended = False
        self.notices: dict[str, dict[str, Any]] = {}
        # 吹哨报到: each summoned department must report in by the whistle's deadline.
        self.summons: dict[str, dict[str, Any]] = {}

    def key(self, kind: str, level: str) -> str:
        return f"{kind}:{self.phase.get(kind, 1)}:{level}"

    def is_due(self, kind: str, level: str) -> bool:
        """Whether this alarm may still fire: step not done, case open, not fired yet."""
        if self.ended or self.key(kind, level) in self.fired:
            return False
        if kind.startswith(NOTICE):
            notice = self.notices.get(kind[len(NOTICE):])
            return notice is not None and notice["answered_at"] is None
        if kind.startswith(REPORT_IN):
            summons = self.summons.get(kind)
            return summons is not None and summons["reported_at"] is None
        return kind not in self.done

    def deadline_of(self, kind: str) -> tuple[datetime, datetime]:
        if kind.startswith(NOTICE):
            notice = self.notices[kind[len(NOTICE):]]
            return notice["issued_at"], notice["respond_by"]
        if kind.startswith(REPORT_IN):
            return self.summons[kind]["blown_at"], self.summons[kind]["deadline"]
        return self.deadlines[kind]

    def department_of(self, kind: str) -> str:
        """Who an alarm names: the summoned department for a report-in, else the handler."""
        if kind.startswith(REPORT_IN):
            return str(self.summons[kind]["department"])
        if kind.startswith(NOTICE):
            return str(self.notices[kind[len(NOTICE):]]["department"])
        return self.department

    def summon(self, number: int, departments: list[str], blown_at: datetime,
               deadline: datetime, meta: Meta) -> None:
        """吹哨: the whistle's departments must report in by `deadline` (replays ignored)."""
        if not self.ended and summons_kind(number, departments[0]) not in self.summons:
            self._summoned(number=number, departments=departments, blown_at=blown_at,
                           deadline=deadline, meta=meta)

    def report_in(self, number: int, department: str, at: datetime, meta: Meta) -> None:
        summons = self.summons.get(summons_kind(number, department))
        if summons is not None and summons["reported_at"] is None:
            self._reported_in(number=number, department=department, at=at, meta=meta)

    def complete(self, kind: str, meta: Meta) -> None:
        if kind not in self.done and not self.ended:
            self._completed(kind=kind, meta=meta)

    def move_deadline(self, kind: str, started_at: datetime, deadline: datetime,
                      cause: str, meta: Meta) -> None:
        if cause not in self.applied and not self.ended:
            self._deadline_moved(kind=kind, started_at=started_at, deadline=deadline,
                                 cause=cause, meta=meta)

    def reassign(self, department: str, area_path: list[str], cause: str, meta: Meta,
                 handling_place: str | None = None) -> None:
        """A re-dispatch to another department or level: its alarms name the new one."""
        moved = (department, handling_place) != (self.department, self.handling_place)
        if moved and cause not in self.applied and not self.ended:
            self._reassigned(department=department, area_path=area_path, cause=cause,
                             meta=meta, handling_place=handling_place)

    @property
    def supervising_area(self) -> str:
        return supervising_area(self.area_path, self.handling_place)

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
                      deadline=self.deadline_of(kind)[1], department=self.department_of(kind),
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
                    meta: Meta, handling_place: str | None = None) -> None:
        self.department = department
        self.area_path = area_path
        self.handling_place = handling_place
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

    @event("Summoned")
    def _summoned(self, number: int, departments: list[str], blown_at: datetime,
                  deadline: datetime, meta: Meta) -> None:
        for department in departments:
            self.summons[summons_kind(number, department)] = {
                "number": number, "department": department, "blown_at": blown_at,
                "deadline": deadline, "reported_at": None}

    @event("ReportedIn")
    def _reported_in(self, number: int, department: str, at: datetime, meta: Meta) -> None:
        self.summons[summons_kind(number, department)]["reported_at"] = at

    @event("Ended")
    def _ended(self, meta: Meta) -> None:
        self.ended = True

    @event("Alarmed")
    def _alarmed(self, kind: str, level: str, phase: int, at: datetime, deadline: datetime,
                 department: str, to_area: str, elapsed_share: float, meta: Meta) -> None:
        self.fired.add(f"{kind}:{phase}:{level}")
