"""The timer index: when each watch's next alarms are due.

Built by tailing the service's own notification log (so it is rebuilt from the event
log on restart, and sees watches recorded by other instances); a min-heap of
(due time, case id, deadline kind, level). A missed deadline is reminded at the opening
of the next working day (12345 practice: a reminder the day after), then escalated.
Notices (督办) have one alarm: overdue at their response deadline. Popping an alarm
whose step is already done is harmless: the watch refuses alarms that are no longer due,
and an alarm of a deadline that has since moved is dropped (the new one has its own).
"""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.workcalendar import WorkCalendar


@dataclass(frozen=True)
class AlarmPolicy:
    warn_share: float = 0.8  # 预警: this share of the time limit has passed
    escalate_after_hours: float = 8.0  # 提级: overdue by this many working hours
    remind: bool = True  # 催办: the working day after a missed deadline


@dataclass(order=True, frozen=True)
class Alarm:
    due: datetime
    case_id: uuid.UUID = field(compare=False)
    kind: str = field(compare=False)
    level: str = field(compare=False)
    deadline: datetime | None = field(default=None, compare=False)  # stale once it moved


class TimerIndex:
    def __init__(self, calendar: WorkCalendar, policy: AlarmPolicy) -> None:
        self.calendar = calendar
        self.policy = policy
        self.heap: list[Alarm] = []
        self.position = 0  # last notification id folded in

    def schedule(self, case_id: uuid.UUID, kind: str, started: datetime,
                 deadline: datetime) -> None:
        for alarm in self.alarms_for(case_id, kind, started, deadline):
            heapq.heappush(self.heap, alarm)

    def alarms_for(self, case_id: uuid.UUID, kind: str, started: datetime,
                   deadline: datetime) -> list[Alarm]:
        limit = self.calendar.working_hours_between(started, deadline)
        if limit > 0:
            warn_at = self.calendar.add_working_hours(started, limit * self.policy.warn_share)
        else:  # a deadline with no working time in it: warn halfway in plain time
            warn_at = started + (deadline - started) * self.policy.warn_share
        escalate_at = self.calendar.add_working_hours(deadline, self.policy.escalate_after_hours)
        alarms = [
            Alarm(min(warn_at, deadline), case_id, kind, "warned", deadline),
            Alarm(deadline, case_id, kind, "overdue", deadline),
            Alarm(max(escalate_at, deadline + timedelta(seconds=1)), case_id, kind, "escalated",
                  deadline),
        ]
        if self.policy.remind:
            alarms.append(Alarm(self.reminder_at(deadline), case_id, kind, "reminded", deadline))
        return alarms

    def reminder_at(self, deadline: datetime) -> datetime:
        """The opening of the first working day after the deadline's day."""
        close = self.calendar.add_working_days(deadline, 0)
        return self.calendar.add_working_hours(close + timedelta(seconds=1), 0)

    def schedule_overdue(self, case_id: uuid.UUID, kind: str, deadline: datetime) -> None:
        """One alarm only, overdue at `deadline`: a notice's response, a whistle's report-in."""
        heapq.heappush(self.heap, Alarm(deadline, case_id, kind, "overdue", deadline))

    def schedule_alarm(self, alarm: Alarm) -> None:
        heapq.heappush(self.heap, alarm)

    def due(self, now: datetime) -> list[Alarm]:
        """Pop every alarm due at `now`, earliest first."""
        out: list[Alarm] = []
        while self.heap and self.heap[0].due <= now:
            out.append(heapq.heappop(self.heap))
        return out

    def __len__(self) -> int:
        return len(self.heap)
