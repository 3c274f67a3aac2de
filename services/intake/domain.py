"""A report (上报/来件): one submission from one channel, placed in the hierarchy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

Meta = dict[str, Any]

REPORT_NAMESPACE = uuid.UUID("3f6c1d2e-7a4b-5c8d-9e0f-a1b2c3d4e5f6")


def report_id(channel: str, external_ref: str) -> uuid.UUID:
    """The same channel + external reference always names the same report (and case)."""
    return uuid.uuid5(REPORT_NAMESPACE, f"{channel}:{external_ref}")


class Report(Aggregate):
    @event("Received")
    def __init__(
        self,
        id: uuid.UUID,
        channel: str,
        external_ref: str,
        category: str,
        title: str,
        description: str,
        location: dict[str, float] | None,
        place_code: str | None,
        area_path: list[str],
        placed: bool,
        reported_at: datetime,
        attachments: list[str],
        meta: Meta,
    ) -> None:
        self.channel = channel
        self.external_ref = external_ref
        self.category = category
        self.area_path = area_path
        self.placed = placed
