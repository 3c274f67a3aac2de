"""Events published by the dispatch service: the department side of the closed loop."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import IntegrationEvent

Urgency = Literal["urgent", "normal"]


class CaseDispatched(IntegrationEvent):
    """Sent to the responsible department with its deadlines (派单)."""

    event_type: ClassVar[str] = "case.dispatched"

    department: str
    category: str
    area_path: tuple[str, ...] = Field(min_length=1)
    urgency: Urgency = "normal"
    round: int = Field(ge=1)  # 1 for the first dispatch, +1 after every return
    sign_deadline: AwareDatetime
    handle_deadline: AwareDatetime


class CaseSignedFor(IntegrationEvent):
    event_type: ClassVar[str] = "case.signed_for"
    department: str


class CaseReturned(IntegrationEvent):
    """The department says the case is not theirs (退单), with a reason."""

    event_type: ClassVar[str] = "case.returned"
    department: str
    reason: str = Field(min_length=1)


class CaseHandled(IntegrationEvent):
    event_type: ClassVar[str] = "case.handled"
    department: str
    result: str = Field(min_length=1)
    evidence: tuple[str, ...] = ()


class CaseVerified(IntegrationEvent):
    """On-site check by the grid worker or call-back to the reporter (核查/回访)."""

    event_type: ClassVar[str] = "case.verified"
    passed: bool
    method: Literal["on_site", "call_back"]
    remark: str = ""
    satisfaction: int | None = Field(default=None, ge=1, le=5)


class CaseReopened(IntegrationEvent):
    """Failed verification sends the case back to the same department (重办)."""

    event_type: ClassVar[str] = "case.reopened"
    department: str
    remark: str = ""
    handle_deadline: AwareDatetime


class CaseClosed(IntegrationEvent):
    event_type: ClassVar[str] = "case.closed"
    department: str
    on_time: bool


class CaseEvaluated(IntegrationEvent):
    event_type: ClassVar[str] = "case.evaluated"
    satisfaction: int = Field(ge=1, le=5)
    comment: str = ""
