"""Events published by the dedup service."""

from __future__ import annotations

import uuid
from typing import ClassVar

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


class ReportMerged(IntegrationEvent):
    """A report joined an existing case's file (合并). `case_id` is the primary case."""

    event_type: ClassVar[str] = "case.report_merged"

    report_id: uuid.UUID
    report_case_id: uuid.UUID
    channel: Channel
    reason: str = ""
