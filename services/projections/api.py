"""Read models over HTTP: the case list and the case file (一件一档)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.projections.readmodel import CaseReadModel
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api", tags=["read models"])
Model = Annotated[CaseReadModel, Depends(application)]


class CaseSummary(BaseModel):
    case_id: uuid.UUID
    status: str
    category: str | None
    channel: str | None
    department: str | None
    urgency: str | None
    area_path: str | None
    title: str | None
    reported_at: datetime | None
    handle_deadline: datetime | None
    warned: bool
    overdue: bool
    escalated: bool
    report_count: int
    reopen_count: int
    satisfaction: int | None
    updated_at: datetime | None


class CaseList(BaseModel):
    total: int
    items: list[CaseSummary]


class FileEntry(BaseModel):
    """One line of a case file: what happened, who did it, when, and where it came from."""

    seq: int
    event_id: uuid.UUID
    event_type: str
    producer: str
    occurred_at: datetime
    actor: dict[str, str | None]
    origin: str
    payload: dict[str, Any]


class CaseFile(BaseModel):
    case: CaseSummary
    events: list[FileEntry]


@router.get("/cases")
def list_cases(
    model: Model,
    status: str | None = None,
    department: str | None = None,
    area: Annotated[str | None, Query(pattern=r"^\d{6}(/\d{6,18})*$")] = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    total, rows = model.list_cases(status=status, department=department, area=area,
                                   category=category, limit=limit, offset=offset)
    return CaseList(total=total, items=[CaseSummary.model_validate(r) for r in rows])


@router.get("/cases/{case_id}")
def get_case(case_id: uuid.UUID, model: Model) -> CaseSummary:
    row = model.get_case(case_id)
    if row is None:
        raise NotFoundError("case", case_id)
    return CaseSummary.model_validate(row)


@router.get("/cases/{case_id}/file")
def case_file(case_id: uuid.UUID, model: Model) -> CaseFile:
    row = model.get_case(case_id)
    if row is None:
        raise NotFoundError("case", case_id)
    events = [
        FileEntry(seq=i + 1, event_id=r["event_id"], event_type=r["event_type"],
                  producer=r["producer"], occurred_at=r["occurred_at"],
                  actor={"id": r["actor_id"], "role": r["actor_role"], "name": r["actor_name"]},
                  origin=r["origin"], payload=r["payload"])
        for i, r in enumerate(model.case_file(uuid.UUID(row["case_id"])))
    ]
    return CaseFile(case=CaseSummary.model_validate(row), events=events)


@router.get("/stats/status")
def status_counts(
    model: Model, area: Annotated[str | None, Query(pattern=r"^\d{6}(/\d{6,18})*$")] = None
) -> dict[str, int]:
    return model.counts_by_status(area)
