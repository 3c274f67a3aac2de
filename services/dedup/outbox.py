"""Stored dedup events -> integration events."""

from __future__ import annotations

from typing import Any

from shared.events import Channel, IntegrationEvent, Location
from shared.events.dedup import CaseRegistered
from shared.runtime.meta import envelope

PRODUCER = "dedup"


def to_integration(e: Any) -> IntegrationEvent | None:
    if type(e).__name__ != "Registered":
        return None
    return CaseRegistered(
        **envelope(e, PRODUCER),
        report_id=e.report_id,
        channel=Channel(e.channel),
        category=e.category,
        title=e.title,
        description=e.description,
        location=Location(**e.location) if e.location else None,
        place_code=e.place_code,
        area_path=tuple(e.area_path),
        reported_at=e.reported_at,
    )
