"""Read models over HTTP: the case list and the case file (一件一档)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.projections.aggregates import CITY_TZ
from services.projections.hotspots import Window
from services.projections.queries import CaseFilter
from services.projections.readmodel import CaseReadModel
from shared.places import PlaceRegistry, load_demo_registry
from shared.places.codes import path_within
from shared.runtime.auth import Caller, CurrentCaller
from shared.runtime.service import Offset, application
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


AreaParam = Annotated[str | None, Query(pattern=r"^\d{6}(/\d{6,18})*$",
                                       description="an area path inside the caller's own")]
LEVELS = {"district": 2, "town": 3, "village": 4, "grid": 5, "unit": 6}
Level = Literal["district", "town", "village", "grid", "unit"]


@router.get("/cases")
def list_cases(
    model: Model,
    who: CurrentCaller,
    status: str | None = None,
    department: str | None = None,
    area: AreaParam = None,
    category: str | None = None,
    channel: str | None = None,
    urgency: str | None = None,
    overdue: bool | None = None,
    open: bool | None = None,
    merged: bool | None = None,
    reported_from: date | None = None,
    reported_until: date | None = None,
    order: Literal["updated", "deadline"] = "updated",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CaseList:
    """Cases of the caller's area (or a part of it); department staff see their own
    department's cases only."""
    scope = narrowest(who, area)
    if scope is None:
        return CaseList(total=0, items=[])
    f = CaseFilter(area=scope, status=status, department=own_department(who, department),
                   category=category, channel=channel, urgency=urgency, overdue=overdue,
                   open=open, merged=merged, reported_from=reported_from,
                   reported_until=reported_until)
    total, rows = model.list_cases(f, limit=limit, offset=offset, order=order)
    return CaseList(total=total, items=[CaseSummary.model_validate(r) for r in rows])


@router.get("/overdue")
def overdue_cases(model: Model, who: CurrentCaller, area: AreaParam = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> CaseList:
    """Open cases past their deadline (超期), the longest overdue first."""
    return list_cases(model, who, area=area, overdue=True, open=True, order="deadline",
                      limit=limit)


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
        for i, r in enumerate(model.case_file(uuid.UUID(row["case_id"]), who.area))
    ]
    return CaseFile(case=CaseSummary.model_validate(row), events=events)


@router.get("/stats/status")
def status_counts(model: Model, who: CurrentCaller, area: AreaParam = None) -> dict[str, int]:
    scope = area_scope(who, area)
    return model.counts_by_status(scope) if scope is not None else {}


@router.get("/dashboard")
def dashboard(model: Model, who: CurrentCaller, area: AreaParam = None) -> dict[str, Any]:
    """Everything a leader's dashboard shows for one node, from the pre-aggregated counts:
    totals, counts by status / category / channel / urgency, the department scoreboard
    and the next level's nodes."""
    scope = area_scope(who, area)
    if scope is None:
        raise NotFoundError("area", area)
    out = model.summary(scope)
    for child in out["children"]:
        child.update(place_names(child["code"]))
    return {**out, **place_names(scope.rsplit("/", 1)[-1])}


@router.get("/departments")
def department_board(model: Model, who: CurrentCaller,
                     area: AreaParam = None) -> list[dict[str, Any]]:
    """Department workload and rates (结案率, 按期结案率, satisfaction) in one area."""
    scope = area_scope(who, area)
    if scope is None:
        raise NotFoundError("area", area)
    return list(model.summary(scope)["departments"])


@router.get("/map")
def density_map(model: Model, who: CurrentCaller, level: Level = "grid",
                area: AreaParam = None) -> list[dict[str, Any]]:
    """Case counts of every place of one level inside the area: the map's colours."""
    scope = area_scope(who, area)
    if scope is None:
        raise NotFoundError("area", area)
    depth = LEVELS[level]
    if depth <= scope.count("/") + 1:
        raise HTTPException(422, detail=f"level {level} is not below the area {scope}")
    return model.level_counts(scope, depth)


@router.get("/trends")
def trends(model: Model, who: CurrentCaller, area: AreaParam = None,
           period: Literal["day", "week"] = "day",
           days: Annotated[int, Query(ge=1, le=730)] = 30,
           until: date | None = None, category: str | None = None) -> dict[str, Any]:
    """Cases reported and closed per day or week, ending `until` (default: today)."""
    scope = area_scope(who, area)
    if scope is None:
        raise NotFoundError("area", area)
    last = until or today()
    first = last - timedelta(days=days - 1)
    return {"area": scope, "period": period, "category": category,
            "points": model.trend(scope, first, last, period, category)}


@router.get("/hotspots")
def hotspots(model: Model, who: CurrentCaller, area: AreaParam = None,
             level: Level = "grid", days: Annotated[int, Query(ge=1, le=90)] = 7,
             baseline_days: Annotated[int, Query(ge=7, le=365)] = 56,
             as_of: date | None = None,
             alpha: Annotated[float, Query(gt=0, lt=0.5)] = 0.01) -> dict[str, Any]:
    """Unusual concentrations of one category in one place and period (Poisson test
    against the place's own history and the city's rate; Bonferroni-corrected)."""
    scope = area_scope(who, area)
    if scope is None:
        raise NotFoundError("area", area)
    depth = LEVELS[level]
    if depth <= scope.count("/") + 1:
        raise HTTPException(422, detail=f"level {level} is not below the area {scope}")
    window = Window(as_of=as_of or today(), days=days, baseline_days=baseline_days)
    found = model.hotspots(scope, depth, window, alpha)
    for h in found:
        h.update(place_names(h["code"]))
    return {"area": scope, "level": level, "window": {"from": window.first.isoformat(),
                                                      "to": window.as_of.isoformat()},
            "alpha": alpha, "hotspots": found}


@router.get("/stream")
async def stream(model: Model, who: CurrentCaller) -> StreamingResponse:
    """Server-sent events: which visible cases changed, as batches are recorded."""
    return StreamingResponse(model.broadcaster.stream(who), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def today() -> date:
    return datetime.now(CITY_TZ).date()


def own_department(who: Caller, asked: str | None) -> str | None:
    """Department staff work on their own department's cases, whatever they ask for."""
    return who.department if who.role == "department_staff" else asked


def area_scope(who: Caller, area: str | None) -> str | None:
    """Aggregates are by area; a department's staff read their cases through the list."""
    if who.role == "department_staff":
        raise HTTPException(403, detail="area figures are for area roles; department staff "
                                        "use /api/cases (their department's cases)")
    return narrowest(who, area)


@cache
def _places() -> PlaceRegistry:
    return load_demo_registry()


def place_names(code: str) -> dict[str, str]:
    place = _places().get(code)
    return {"name_zh": place.name_zh if place else code,
            "name_en": place.name_en if place else code}


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
    row = model.get_case(case_id, who.area)  # read under row-level security too
    if row is None or not row.get("area_path") or not who.can_see(row["area_path"]):
        return None
    if who.role == "department_staff" and row.get("department") != who.department:
        return None
    return row
