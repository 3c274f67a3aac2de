"""A case as dedup sees it: the reports in its file."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

Meta = dict[str, Any]


class CaseFile(Aggregate):
    """Registered from its first report (立案); later reports may be merged into it."""

    @event("Registered")
    def __init__(
        self,
        id: uuid.UUID,
        report_id: uuid.UUID,
        channel: str,
        category: str,
        title: str,
        description: str,
        location: dict[str, float] | None,
        place_code: str | None,
        area_path: list[str],
        reported_at: datetime,
        meta: Meta,
    ) -> None:
        self.category = category
        self.area_path = area_path
        self.report_ids = [report_id]
