"""The notice index (督办): every supervision notice with its case's area, so a department's
open notices are listed without replaying a single watch.

Folded from the watch events of the service's own notification log, in the same pass that
feeds the timer index (`SupervisionApplication.refresh_timers`): rebuilt from the log on
restart, and it sees notices recorded by other instances. A notice keeps the department it
was addressed to; a re-dispatch moves the case's area, not the notice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.places.codes import join_path, path_within

State = Literal["open", "answered", "all"]
FOLLOWED = ("Watch.Started", "Watch.Reassigned", "Watch.NoticeIssued",
            "Watch.NoticeAnswered", "Watch.Ended")


@dataclass
class Notice:
    case_id: uuid.UUID
    notice_id: str
    department: str
    reason: str
    issued_at: datetime
    respond_by: datetime
    answered_at: datetime | None = None
    response: str | None = None
    on_time: bool | None = None

    def state(self, now: datetime) -> str:
        """waiting / overdue while unanswered, answered / late once answered."""
        if self.answered_at is not None:
            return "answered" if self.on_time else "late"
        return "overdue" if now >= self.respond_by else "waiting"


@dataclass
class CaseScope:
    area_path: tuple[str, ...]
    closed: bool = False


class NoticeIndex:
    def __init__(self) -> None:
        self.notices: dict[tuple[uuid.UUID, str], Notice] = {}
        self.cases: dict[uuid.UUID, CaseScope] = {}

    def fold(self, e: Any) -> None:
        """One watch event. Tolerant of gaps (a missing watch or notice is skipped), since
        a failure here would stall the timers that share this pass."""
        case_id = e.originator_id
        case = self.cases.get(case_id)
        match type(e).__name__:
            case "Started":
                self.cases[case_id] = CaseScope(tuple(e.area_path))
            case "Reassigned" if case:
                case.area_path = tuple(e.area_path)
            case "Ended" if case:
                case.closed = True
            case "NoticeIssued" if case:
                self.notices[(case_id, e.notice_id)] = Notice(
                    case_id, e.notice_id, e.department, e.reason, e.issued_at, e.respond_by)
            case "NoticeAnswered" if (case_id, e.notice_id) in self.notices:
                notice = self.notices[(case_id, e.notice_id)]
                notice.answered_at, notice.response, notice.on_time = e.at, e.response, e.on_time

    def select(self, now: datetime, area: str, department: str | None = None,
               state: State = "open") -> list[dict[str, Any]]:
        """Notices on cases at or below `area` (and to `department`): open ones by their
        response deadline, answered ones latest first."""
        found = [n for n in self.notices.values()
                 if (department is None or n.department == department)
                 and (state == "all" or (n.answered_at is None) == (state == "open"))
                 and path_within(join_path(self.cases[n.case_id].area_path), area)]
        if state == "answered":
            found.sort(key=lambda n: (n.answered_at, str(n.case_id), n.notice_id), reverse=True)
        else:
            found.sort(key=lambda n: (n.respond_by, str(n.case_id), n.notice_id.zfill(9)))
        return [self.row(n, now) for n in found]

    def row(self, n: Notice, now: datetime) -> dict[str, Any]:
        case = self.cases[n.case_id]
        return {"case_id": n.case_id, "notice_id": n.notice_id, "department": n.department,
                "reason": n.reason, "issued_at": n.issued_at, "respond_by": n.respond_by,
                "answered_at": n.answered_at, "response": n.response, "on_time": n.on_time,
                "state": n.state(now), "area_path": list(case.area_path),
                "case_closed": case.closed}
