"""Events published by the dedup service."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from shared.events.envelope import Channel, IntegrationEvent, Location


class CaseRegistered(IntegrationEvent):
    """A report became a new case (立案). Carries what dispatch needs to route it."""

    event_type: ClassVar[str] = "case.registered"

    report_id: uuid.UUID
    channel: Channel
    category: str
    title: str = ""
    description: str
    location: Location | None = None
    place_code: str | None = None
    area_path: tuple[str, ...] = Field(min_length=1)
    reported_at: AwareDatetime
    # Why dedup decided so: outcome, reason, and the candidates looked at with their
    # signals (distance, time apart, text similarity, category, address numbers).
    explanation: dict[str, Any] = Field(default_factory=dict)
    # A repeat soon after a case was closed: linked to it, flagged for possible reopening.
    linked_case_id: uuid.UUID | None = None
    reopen_suggested: bool = False
    # A department the channel already named (e.g. the owner of an imported request).
    assigned_department: str | None = None


class ReportMerged(IntegrationEvent):
    """A report joined an existing case's file (合并). `case_id` is the primary case."""

    event_type: ClassVar[str] = "case.report_merged"

    report_id: uuid.UUID
    report_case_id: uuid.UUID
    channel: Channel
    reason: str = ""
    explanation: dict[str, Any] = Field(default_factory=dict)


class ReviewQueued(IntegrationEvent):
    """Dedup could not decide: the report waits for a person (人工筛重). `case_id` is the
    report's own case id; `explanation` names the candidate cases and their signals."""

    event_type: ClassVar[str] = "case.review_queued"

    report_id: uuid.UUID
    channel: Channel
    reason: str
    explanation: dict[str, Any] = Field(default_factory=dict)


class ReportSplit(IntegrationEvent):
    """A merged report was taken back out of a case's file. `case_id` is the report's own
    case id (a case.registered for it follows on the same key); `from_case_id` the case it
    left."""

    event_type: ClassVar[str] = "case.report_split"

    report_id: uuid.UUID
    from_case_id: uuid.UUID
    channel: Channel
    reason: str = ""


class RepeatReported(IntegrationEvent):
    """The same problem was reported again soon after the case was closed. `case_id` is the
    closed case; the new report became case `report_case_id`, linked to it."""

    event_type: ClassVar[str] = "case.repeat_reported"

    report_id: uuid.UUID
    report_case_id: uuid.UUID
    channel: Channel
    reopen_suggested: bool = True
    explanation: dict[str, Any] = Field(default_factory=dict)
