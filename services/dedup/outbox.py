"""Stored dedup events -> integration events.

Keys: every event is keyed by its `case_id`. A split is keyed by the split-out report's
own case id, so the case.registered that follows it arrives after it, in order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.events import Channel, IntegrationEvent, Location
from shared.events.dedup import (
    CaseRegistered,
    RepeatReported,
    ReportMerged,
    ReportSplit,
    ReviewQueued,
)
from shared.runtime.meta import envelope

PRODUCER = "dedup"


def to_integration(e: Any) -> IntegrationEvent | None:
    match type(e).__name__:
        case "Received":
            return _received(e)
        case "Registered":
            return registered(e, e.report, e.decision)
        case "ReportJoined":
            return ReportMerged(**envelope(e, PRODUCER), report_id=e.report["report_id"],
                                report_case_id=e.report_case_id,
                                channel=Channel(e.report["channel"]),
                                reason=e.decision["reason"], explanation=e.decision)
        case "ReportSplit":
            return _split(e)
        case "RepeatLinked":
            return RepeatReported(**envelope(e, PRODUCER), report_id=e.report["report_id"],
                                  report_case_id=e.report_case_id,
                                  channel=Channel(e.report["channel"]), explanation=e.decision)
    return None  # Merged (the primary's ReportJoined tells it), Closed (internal)


def _received(e: Any) -> IntegrationEvent | None:
    outcome = e.decision["outcome"]
    if outcome in ("new", "link"):
        return registered(e, e.report, e.decision)
    if outcome == "review":
        return ReviewQueued(**envelope(e, PRODUCER), report_id=e.report["report_id"],
                            channel=Channel(e.report["channel"]),
                            reason=e.decision["reason"], explanation=e.decision)
    return None


def registered(e: Any, report: dict[str, Any], decision: dict[str, Any]) -> CaseRegistered:
    link = decision["case_id"] if decision["outcome"] == "link" else None
    return CaseRegistered(
        **envelope(e, PRODUCER),
        report_id=report["report_id"],
        channel=Channel(report["channel"]),
        category=report["category"],
        title=report["title"],
        description=report["description"],
        location=Location(**report["location"]) if report["location"] else None,
        place_code=report["place_code"],
        area_path=tuple(report["area_path"]),
        reported_at=datetime.fromisoformat(report["reported_at"]),
        explanation=decision,
        linked_case_id=uuid.UUID(link) if link else None,
        reopen_suggested=link is not None,
        assigned_department=report.get("assigned_department"),
    )


def _split(e: Any) -> ReportSplit:
    env = envelope(e, PRODUCER, case_id=e.report_case_id)
    return ReportSplit(**env, report_id=uuid.UUID(e.report_id), from_case_id=e.originator_id,
                       channel=Channel(e.channel), reason=e.reason)
