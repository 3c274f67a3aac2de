"""The responsibility list and the holiday calendar over HTTP: anyone signed in reads them,
administrators edit them, every edit is kept (GET .../versions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.application import DispatchApplication, ListInvalid
from services.dispatch.reference import ResponsibilityList
from services.dispatch.routing import Rule, handling_place, urgency
from shared.catalogue import is_category
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.service import application
from shared.runtime.store import NotFoundError
from shared.workcalendar import YearArrangement

router = APIRouter(prefix="/api", tags=["responsibility list and calendar"])
App = Annotated[DispatchApplication, Depends(application)]
Admin = Annotated[Caller, Depends(require_role("administrator"))]


class ListEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(min_length=1, max_length=2000)
    note: str = Field(default="", max_length=500)
    based_on: int | None = Field(default=None, ge=1,
                                 description="the version edited; 409 if it moved meanwhile")


class ListVersion(BaseModel):
    version: int
    published_at: datetime
    actor: dict[str, Any]
    note: str
    rules: list[Rule]


class VersionSummary(BaseModel):
    version: int
    published_at: datetime
    actor: dict[str, Any]
    note: str
    rule_count: int


class RoutePreview(BaseModel):
    list_version: int
    rule: Rule
    handling_place: str
    urgency: str
    urgency_reasons: list[str]


def _version(lst: ResponsibilityList, n: int) -> ListVersion:
    if not 1 <= n <= lst.current_version:
        raise NotFoundError("responsibility list version", n)
    return ListVersion.model_validate(lst.versions[n - 1])


@router.get("/responsibility-list")
def current_list(app: App, who: CurrentCaller) -> ListVersion:
    lst = app.responsibility_list()
    return _version(lst, lst.current_version)


@router.get("/responsibility-list/versions")
def list_versions(app: App, who: CurrentCaller) -> list[VersionSummary]:
    return [VersionSummary(**{k: v[k] for k in ("version", "published_at", "actor", "note")},
                           rule_count=len(v["rules"]))
            for v in app.responsibility_list().versions]


@router.get("/responsibility-list/versions/{version}")
def list_version(version: int, app: App, who: CurrentCaller) -> ListVersion:
    return _version(app.responsibility_list(), version)


@router.put("/responsibility-list", response_model=ListVersion)
def revise_list(edit: ListEdit, app: App, who: Admin) -> Any:
    """Publish a new version (the whole list). Refused with every problem listed (422)."""
    try:
        lst = app.revise_list(edit.rules, edit.note, edit.based_on, who.as_actor())
    except ListInvalid as exc:
        detail = [{"loc": ["body", "rules"], "msg": p, "type": "responsibility_list"}
                  for p in exc.problems]
        return JSONResponse({"detail": detail}, status_code=422)
    return _version(lst, lst.current_version)


@router.get("/responsibility-list/route")
def preview_route(app: App, who: CurrentCaller,
                  category: Annotated[str, Query(max_length=64)],
                  area: Annotated[str, Query(pattern=r"^\d{6}(/\d{6,18})*$")],
                  channel: str = "grid_app", text: Annotated[str, Query(max_length=4000)] = ""
                  ) -> RoutePreview:
    """Which rule of the current list would route a case, and how urgent it would be."""
    if not is_category(category):
        raise NotFoundError("category", category)
    version, table = app.table()
    path = area.split("/")
    rule = table.route(category, path)
    level, reasons = urgency(rule, channel, text)
    return RoutePreview(list_version=version, rule=rule,
                        handling_place=handling_place(path, rule.level), urgency=level,
                        urgency_reasons=reasons)


# -- holiday calendar (节假日安排) -------------------------------------------------------------

class CalendarState(BaseModel):
    years: dict[int, YearArrangement]
    history: list[dict[str, Any]]


def _calendar(app: DispatchApplication) -> CalendarState:
    cal = app.holiday_calendar()
    return CalendarState(years=cal.arrangements, history=cal.history)


@router.get("/calendar/arrangements")
def arrangements(app: App, who: CurrentCaller) -> CalendarState:
    return _calendar(app)


@router.post("/calendar/arrangements")
def load_arrangement(arrangement: YearArrangement, app: App, who: Admin) -> CalendarState:
    """Load (or replace) a year's official arrangement, e.g. as soon as the State Council
    publishes it; deadlines computed from now on use it."""
    app.load_arrangement(arrangement, who.as_actor())
    return _calendar(app)

