"""How each integration event changes a case row. Pure: a dict in, the same dict changed.

Events of one producer arrive in order; across producers they may not (intake's
`reported` can arrive after dedup's `registered`), so the early-stage statuses only
ever move forward.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events import IntegrationEvent

STATUS_BY_EVENT = {
    "case.reported": "reported",
    "case.registered": "registered",
    "case.dispatched": "dispatched",
    "case.signed_for": "signed_for",
    "case.handled": "handled",
    "case.verified": "verified",
    "case.reopened": "signed_for",
    "case.closed": "closed",
    "case.evaluated": "evaluated",
    "case.returned": "returned",  # waiting for re-dispatch, or for arbitration (payload)
    "case.review_queued": "in_review",  # dedup's review queue (人工筛重)
}
EARLY = ("reported", "in_review", "registered")  # set by intake and dedup, which race dispatch


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def apply_event(row: dict[str, Any], e: IntegrationEvent) -> None:
    # The latest moment, not the last arrival: a rebuild meets the topics in another order.
    row["updated_at"] = max(filter(None, (row.get("updated_at"), utc(e.occurred_at))))
    if e.event_type == "case.reported" and row.get("case_id") not in (None, str(e.case_id)):
        return  # a merged report's own report: it joins the file, not the case's fields
    _status(row, e)
    data = vars(e)  # the fields as they are: dumping every event would cost more than applying it
    match e.event_type:
        case "case.reported" | "case.registered":
            for key in ("category", "title", "description", "place_code"):
                row[key] = row.get(key) or data[key]
            row["channel"] = row.get("channel") or data["channel"].value
            row["area_path"] = row.get("area_path") or "/".join(data["area_path"])
            row["reported_at"] = row.get("reported_at") or utc(data["reported_at"])
            row.setdefault("report_count", 1)
        case "case.report_merged":
            row["report_count"] = int(row.get("report_count") or 1) + 1
        case "case.report_split":  # applied to the case the report leaves
            row["report_count"] = max(1, int(row.get("report_count") or 1) - 1)
        case "case.dispatched":
            row.update(department=data["department"], urgency=data["urgency"],
                       category=data["category"], area_path="/".join(data["area_path"]),
                       dispatched_at=utc(e.occurred_at),
                       sign_deadline=utc(data["sign_deadline"]),
                       handle_deadline=utc(data["handle_deadline"]))
        case "case.reopened":
            row["reopen_count"] = int(row.get("reopen_count") or 0) + 1
            row["handle_deadline"] = utc(data["handle_deadline"])
            row["overdue"] = row["warned"] = False
        case "case.extension_granted":
            row["handle_deadline"] = utc(data["handle_deadline"])
            row["overdue"] = row["warned"] = False
        case "case.urgency_changed":
            row["urgency"] = data["urgency"]
        case "case.closed":
            row.update(closed_at=utc(e.occurred_at), on_time=data["on_time"])
        case "case.verified" if data.get("satisfaction"):  # the reporter's word at call-back
            row["satisfaction"] = data["satisfaction"]
        case "case.evaluated":
            row["satisfaction"] = data["satisfaction"]
        case "case.warned":
            row["warned"] = True
        case "case.overdue":
            row["overdue"] = True
        case "case.escalated":
            row["escalated"] = True


def _status(row: dict[str, Any], e: IntegrationEvent) -> None:
    new = STATUS_BY_EVENT.get(e.event_type)
    if new is None:
        return
    current = row.get("status")
    if new in EARLY and current is not None and (
        current not in EARLY or EARLY.index(current) >= EARLY.index(new)
    ):
        return  # a late intake/dedup event never moves a case backwards
    row["status"] = new
