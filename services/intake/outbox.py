"""Stored intake events -> integration events."""

from __future__ import annotations

from typing import Any

from shared.events import Channel, IntegrationEvent, Location
from shared.events.intake import CaseReported
from shared.runtime.meta import envelope

PRODUCER = "intake"


def to_integration(e: Any) -> IntegrationEvent | None:
    if type(e).__name__ != "Received":
        return None
    return CaseReported(
        **envelope(e, PRODUCER),
        report_id=e.originator_id,
        channel=Channel(e.channel),
        external_ref=e.external_ref,
        category=e.category,
        title=e.title,
        description=e.description,
        location=Location(**e.location) if e.location else None,
        place_code=e.place_code,
        area_path=tuple(e.area_path),
        placed=e.placed,
        reported_at=e.reported_at,
        attachments=tuple(e.attachments),
    )
