"""Events published by the intake service."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import AwareDatetime, Field

from shared.events.envelope import Channel, IntegrationEvent, Location


class CaseReported(IntegrationEvent):
    """One report (上报/来件) from one channel, placed in the hierarchy.

    `case_id` is the report's own provisional case id, uuid5(channel, external_ref):
    dedup either registers it as a new case or merges it into an existing one.
    """

    event_type: ClassVar[str] = "case.reported"

    report_id: uuid.UUID
    channel: Channel
    external_ref: str = Field(min_length=1, max_length=128)
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    location: Location | None = None
    place_code: str | None = None  # the unit or grid the report was placed in
    area_path: tuple[str, ...] = Field(min_length=1)  # city code first
    placed: bool = True  # False: outside every grid, queued for manual placement
    reported_at: AwareDatetime
    attachments: tuple[str, ...] = ()
