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


class CaseReminded(IntegrationEvent):
    """The working day after a missed deadline the department is reminded (催办)."""

    event_type: ClassVar[str] = "case.reminded"
    department: str
    deadline_kind: DeadlineKind
    deadline: AwareDatetime


class CaseNoticeIssued(IntegrationEvent):
    """A supervisor's notice (督办): the department must respond by `respond_by`."""

    event_type: ClassVar[str] = "case.notice_issued"
    notice_id: str = Field(min_length=1, max_length=64)
    department: str
    reason: str = Field(min_length=1)
    respond_by: AwareDatetime


class CaseNoticeAnswered(IntegrationEvent):
    """The department's response to a notice; `on_time` against its deadline."""

    event_type: ClassVar[str] = "case.notice_answered"
    notice_id: str = Field(min_length=1, max_length=64)
    department: str
    response: str = Field(min_length=1)
    on_time: bool


class CaseNoticeOverdue(IntegrationEvent):
    """A notice's response deadline passed without a response."""

    event_type: ClassVar[str] = "case.notice_overdue"
    notice_id: str = Field(min_length=1, max_length=64)
    department: str
    respond_by: AwareDatetime


class CaseReportInOverdue(IntegrationEvent):
    """A department summoned by a whistle (吹哨) did not report in (报到) by its deadline."""

    event_type: ClassVar[str] = "case.report_in_overdue"
    number: int = Field(ge=1)  # the whistle's number on the case
    department: str
    report_deadline: AwareDatetime
