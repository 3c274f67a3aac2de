"""The timer index: when each watch's next alarms are due.

Built by tailing the service's own notification log (so it is rebuilt from the event
log on restart, and sees watches recorded by other instances); a min-heap of
(due time, case id, deadline kind, level). Popping an alarm whose step is already done
is harmless: the watch refuses alarms that are no longer due.
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


@dataclass(order=True, frozen=True)
class Alarm:
    due: datetime
    case_id: uuid.UUID = field(compare=False)
    kind: str = field(compare=False)
    level: str = field(compare=False)


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
        return [
            Alarm(min(warn_at, deadline), case_id, kind, "warned"),
            Alarm(deadline, case_id, kind, "overdue"),
            Alarm(max(escalate_at, deadline + timedelta(seconds=1)), case_id, kind, "escalated"),
        ]

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
