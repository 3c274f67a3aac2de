"""Dedup over HTTP: where a report ended up, a case's reports, and the review queue
(人工筛重) where a dispatcher confirms or rejects a suspected duplicate, or splits a merged
report back out into a case of its own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from services.dedup.application import DedupApplication
from services.dedup.domain import CaseFile
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.service import Offset, application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api/dedup", tags=["dedup"])
App = Annotated[DedupApplication, Depends(application)]
Reviewer = Annotated[Caller, Depends(require_role("dispatcher"))]


class ReportEntry(BaseModel):
    report_case_id: uuid.UUID
    report_id: uuid.UUID
    channel: str


class CaseReports(BaseModel):
    """A case as dedup keeps it. Asked by a merged report's own id, it answers with the
    primary case the report joined: every reporter finds the case that handles it."""

    case_id: uuid.UUID
    asked_for: uuid.UUID
    status: str
    closed: bool
    report_ids: list[uuid.UUID]
    reports: list[ReportEntry]
    linked_case_id: uuid.UUID | None
    repeats: list[uuid.UUID]
    decision: dict[str, Any]


class QueuedReport(BaseModel):
    report_case_id: uuid.UUID
    channel: str
    category: str
    title: str
    description: str
    area_path: list[str]
    reported_at: datetime
    queued_at: datetime
    reason: str
    suggested_case_id: uuid.UUID | None
    candidates: list[dict[str, Any]]


class ReviewQueue(BaseModel):
    total: int
    items: list[QueuedReport]


class Confirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: uuid.UUID | None = None  # default: the case dedup suggested
    remark: str = Field(default="", max_length=500)


class Remark(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remark: str = Field(default="", max_length=500)


@router.get("/cases/{case_id}")
def case_reports(case_id: uuid.UUID, app: App, who: CurrentCaller) -> CaseReports:
    asked = _visible(app, case_id, who)
    case = asked
    if asked.primary_id is not None:
        case = app.get_file(asked.primary_id)
    return _view(case, asked.id)


@router.get("/review")
def review_queue(app: App, who: Reviewer,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 offset: Offset = 0) -> ReviewQueue:
    items = [i for i in app.review_queue() if who.can_see(i["report"]["area_path"])]
    return ReviewQueue(total=len(items),
                       items=[_queued(i) for i in items[offset:offset + limit]])


@router.post("/review/{report_case_id}/confirm")
async def confirm(report_case_id: uuid.UUID, body: Confirm, app: App,
                  who: Reviewer) -> CaseReports:
    _visible(app, report_case_id, who)
    if body.case_id is not None:
        _visible(app, body.case_id, who)
    primary = await asyncio.to_thread(app.confirm, report_case_id, body.case_id,
                                      who.as_actor(), body.remark)
    return _view(primary, report_case_id)


@router.post("/review/{report_case_id}/reject")
async def reject(report_case_id: uuid.UUID, body: Remark, app: App,
                 who: Reviewer) -> CaseReports:
    _visible(app, report_case_id, who)
    case = await asyncio.to_thread(app.reject, report_case_id, who.as_actor(), body.remark)
    return _view(case, report_case_id)


@router.post("/cases/{case_id}/reports/{report_case_id}/split")
async def split(case_id: uuid.UUID, report_case_id: uuid.UUID, body: Remark, app: App,
                who: Reviewer) -> CaseReports:
    _visible(app, case_id, who)
    case = await asyncio.to_thread(app.split, case_id, report_case_id, who.as_actor(),
                                   body.remark)
    return _view(case, report_case_id)


def _visible(app: DedupApplication, case_id: uuid.UUID, who: Caller) -> CaseFile:
    """A case outside the caller's area is answered as absent: ids reveal nothing."""
    case = app.get_file(case_id)
    if not who.can_see(case.area_path):
        raise NotFoundError("case", case_id)
    return case


def _view(case: CaseFile, asked: uuid.UUID) -> CaseReports:
    reports = [ReportEntry(report_case_id=uuid.UUID(rc), report_id=uuid.UUID(rid), channel=ch)
               for rc, (rid, ch) in case.members.items()]
    return CaseReports(case_id=case.id, asked_for=asked, status=case.status,
                       closed=case.closed_at is not None,
                       report_ids=[r.report_id for r in reports], reports=reports,
                       linked_case_id=case.linked_case_id,
                       repeats=[uuid.UUID(r) for r in case.repeats], decision=case.decision)


def _queued(item: dict[str, Any]) -> QueuedReport:
    report, decision = item["report"], item["decision"]
    return QueuedReport(
        report_case_id=item["report_case_id"], channel=report["channel"],
        category=report["category"], title=report["title"],
        description=report["description"], area_path=report["area_path"],
        reported_at=datetime.fromisoformat(report["reported_at"]),
        queued_at=item["queued_at"], reason=decision["reason"],
        suggested_case_id=uuid.UUID(decision["case_id"]) if decision.get("case_id") else None,
        candidates=decision.get("candidates", []))
