"""Read models over HTTP: the case list and the case file (一件一档)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.projections.readmodel import CaseReadModel
from shared.places.codes import path_within
from shared.runtime.auth import Caller, CurrentCaller
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
    who: CurrentCaller,
    status: str | None = None,
    department: str | None = None,
    area: Annotated[str | None, Query(pattern=r"^\d{6}(/\d{6,18})*$")] = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    scope = narrowest(who, area)
    if scope is None:
        return CaseList(total=0, items=[])
    total, rows = model.list_cases(status=status, department=department, area=scope,
                                   category=category, limit=limit, offset=offset)
    return CaseList(total=total, items=[CaseSummary.model_validate(r) for r in rows])


@router.get("/cases/{case_id}")
def get_case(case_id: uuid.UUID, model: Model, who: CurrentCaller) -> CaseSummary:
    row = visible(model, case_id, who)
    if row is None:
        raise NotFoundError("case", case_id)
    return CaseSummary.model_validate(row)


@router.get("/cases/{case_id}/file")
def case_file(case_id: uuid.UUID, model: Model, who: CurrentCaller) -> CaseFile:
    row = visible(model, case_id, who)
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
    model: Model, who: CurrentCaller,
    area: Annotated[str | None, Query(pattern=r"^\d{6}(/\d{6,18})*$")] = None,
) -> dict[str, int]:
    scope = narrowest(who, area)
    return model.counts_by_status(scope) if scope is not None else {}


def narrowest(who: Caller, area: str | None) -> str | None:
    """The caller's own area, or a requested area inside it; None if it lies outside."""
    if area is None:
        return who.area
    if path_within(area, who.area):
        return area
    if path_within(who.area, area):
        return who.area  # asked for a wider area: the caller still sees only their own
    return None


def visible(model: CaseReadModel, case_id: uuid.UUID, who: Caller) -> dict[str, Any] | None:
    """A case outside the caller's area is answered as absent: ids reveal nothing."""
    row = model.get_case(case_id)
    if row is None or not row.get("area_path") or not who.can_see(row["area_path"]):
        return None
    return row
