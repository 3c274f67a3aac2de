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
    # Added with the responsibility list (issue 5); defaults keep older messages valid.
    reason: Literal["registered", "redispatched", "arbitrated"] = "registered"
    remark: str = ""  # the dispatcher's remark or the arbitration decision
    level: str | None = None  # handling level: city, district, town, village
    handling_place: str | None = None  # area code of the handling level's place
    list_version: int | None = None  # responsibility list version that routed it
    return_deadline: AwareDatetime | None = None  # 退单 only until then
    channel: str | None = None
    urgency_reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # e.g. deadlines in a year counted Mon–Fri only


class CaseSignedFor(IntegrationEvent):
    event_type: ClassVar[str] = "case.signed_for"
    department: str


class CaseReturned(IntegrationEvent):
    """The department says the case is not theirs (退单), with a reason."""

    event_type: ClassVar[str] = "case.returned"
    department: str
    reason: str = Field(min_length=1)
    returns: int = Field(default=1, ge=1)  # how many times the case has been returned
    awaiting: Literal["redispatch", "arbitration"] = "redispatch"
    arbitration_place: str | None = None  # the level above, when arbitration is due


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


class CaseUrgencyChanged(IntegrationEvent):
    """A dispatcher overrides the urgency (轻重缓急); deadlines are not moved."""

    event_type: ClassVar[str] = "case.urgency_changed"
    department: str
    urgency: Urgency
    previous: Urgency
    reason: str = Field(min_length=1)


class CaseExtensionRequested(IntegrationEvent):
    """The department asks for more time before the handling deadline (延期申请)."""

    event_type: ClassVar[str] = "case.extension_requested"
    department: str
    reason: str = Field(min_length=1)
    requested_deadline: AwareDatetime


class CaseExtensionGranted(IntegrationEvent):
    """Moves the handling deadline; the previous one is kept beside it."""

    event_type: ClassVar[str] = "case.extension_granted"
    department: str
    handle_deadline: AwareDatetime
    previous_deadline: AwareDatetime
    remark: str = ""


class CaseExtensionRefused(IntegrationEvent):
    event_type: ClassVar[str] = "case.extension_refused"
    department: str
    remark: str = ""


class CaseCoHandlingRequested(IntegrationEvent):
    """协办: co-departments help the lead department, which keeps the case."""

    event_type: ClassVar[str] = "case.co_handling_requested"
    lead_department: str
    departments: tuple[str, ...] = Field(min_length=1)
    task: str = ""


class CaseCoPartReported(IntegrationEvent):
    event_type: ClassVar[str] = "case.co_part_reported"
    department: str
    part: str = Field(min_length=1)


class CaseConsultationOpened(IntegrationEvent):
    """会商研判 with the parties named."""

    event_type: ClassVar[str] = "case.consultation_opened"
    number: int = Field(ge=1)
    subject: str = Field(min_length=1)
    participants: tuple[str, ...] = Field(min_length=1)


class CaseConsultationConcluded(IntegrationEvent):
    event_type: ClassVar[str] = "case.consultation_concluded"
    number: int = Field(ge=1)
    conclusion: str = Field(min_length=1)
    decisions: tuple[str, ...] = ()


class CaseWhistleBlown(IntegrationEvent):
    """吹哨: a town or street summons departments to report in (报到) by a deadline."""

    event_type: ClassVar[str] = "case.whistle_blown"
    number: int = Field(ge=1)
    place: str
    departments: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(min_length=1)
    report_deadline: AwareDatetime


class CaseReportedIn(IntegrationEvent):
    event_type: ClassVar[str] = "case.reported_in"
    number: int = Field(ge=1)
    department: str
    on_time: bool


class CaseWhistleClosed(IntegrationEvent):
    """Who reported in and who did not."""

    event_type: ClassVar[str] = "case.whistle_closed"
    number: int = Field(ge=1)
    reported: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    late: tuple[str, ...] = ()
