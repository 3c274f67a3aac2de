"""Events published by the supervision service: timers and escalation."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import IntegrationEvent

DeadlineKind = Literal["sign", "handle"]


class CaseWarned(IntegrationEvent):
    """A share of the time limit has passed (预警)."""

    event_type: ClassVar[str] = "case.warned"
    department: str
    deadline_kind: DeadlineKind
    deadline: AwareDatetime
    elapsed_share: float = Field(ge=0)


class CaseOverdue(IntegrationEvent):
    """The deadline passed before the step was done (超期)."""

    event_type: ClassVar[str] = "case.overdue"
    department: str
    deadline_kind: DeadlineKind
    deadline: AwareDatetime


class CaseEscalated(IntegrationEvent):
    """Still overdue: the level above is told (提级)."""

    event_type: ClassVar[str] = "case.escalated"
    department: str
    deadline_kind: DeadlineKind
    to_area: str  # the area code of the level that now supervises the case
    reason: str
