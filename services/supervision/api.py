"""Supervision over HTTP: watches, notices (督办), the case file with time travel, the
archive export, chain verification, evaluation, and the driven clock for tests and drills.

Supervisors act on cases in their own area and below: a case elsewhere answers 403, a
case that does not exist 404, a closed case 409 (naming the rule).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.supervision.application import SupervisionApplication
from services.supervision.domain import Watch
from services.supervision.export import PdfError, print_pdf, render_html
from services.supervision.notices import State
from shared.catalogue import departments
from shared.places.codes import join_path, path_within
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.clock import DrivenClock
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api/supervision", tags=["supervision"])
App = Annotated[SupervisionApplication, Depends(application)]
READERS = ("supervisor", "leader", "administrator")
Reader = Annotated[Caller, Depends(require_role(*READERS))]
Supervisor = Annotated[Caller, Depends(require_role("supervisor"))]
Staff = Annotated[Caller, Depends(require_role("department_staff"))]
NoticeReader = Annotated[Caller, Depends(require_role("department_staff", *READERS))]
AREA = r"^\d{6}(/\d{6,18})*$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoticeCommand(Body):
    reason: str = Field(min_length=1, max_length=2000)
    respond_by: AwareDatetime | None = None  # default: GOV_NOTICE_RESPONSE_HOURS from now


class NoticeResponse(Body):
    response: str = Field(min_length=1, max_length=4000)


class WatchState(BaseModel):
    case_id: uuid.UUID
    department: str
    deadlines: dict[str, datetime]
    done: list[str]
    fired: list[str]
    ended: bool
    notices: dict[str, dict[str, Any]]


class NoticeItem(BaseModel):
    case_id: uuid.UUID
    notice_id: str
    department: str
    reason: str
    issued_at: datetime
    respond_by: datetime
    answered_at: datetime | None
    response: str | None
    on_time: bool | None
    state: Literal["waiting", "overdue", "answered", "late"]
    area_path: list[str]
    case_closed: bool


class NoticeList(BaseModel):
    as_of: datetime
    total: int
    items: list[NoticeItem]


class ClockSet(BaseModel):
    now: AwareDatetime


class ClockState(BaseModel):
    now: datetime
    fired: int


@router.get("/cases/{case_id}")
def get_watch(case_id: uuid.UUID, app: App, who: CurrentCaller) -> WatchState:
    if case_id not in app.repository:
        raise NotFoundError("watch for case", case_id)
    w: Watch = app.repository.get(case_id)
    if not who.can_see(w.area_path):
        raise NotFoundError("watch for case", case_id)
    return WatchState(case_id=w.id, department=w.department,
                      deadlines={k: v[1] for k, v in w.deadlines.items()},
                      done=sorted(w.done), fired=sorted(w.fired), ended=w.ended,
                      notices=w.notices)


def case_in_area(app: SupervisionApplication, case_id: uuid.UUID, who: Caller) -> None:
    """404 if there is no such case, 403 if it lies outside the caller's area."""
    area = app.area_of(case_id)
    if not area:
        raise NotFoundError("case", case_id)
    if not who.can_see(area):
        raise HTTPException(403, detail=f"case {case_id} lies outside the caller's area")


@router.get("/notices")
def list_notices(
    app: App, who: NoticeReader,
    department: str | None = None,
    area: Annotated[str | None, Query(pattern=AREA)] = None,
    state: State = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> NoticeList:
    """督办 by department and area, open ones by their response deadline. Department staff
    read their own department's within their area; supervisors, leaders and
    administrators any department's within theirs (or `area` inside it)."""
    if department is not None and department not in departments():
        raise HTTPException(404, detail=f"no department {department!r}")
    if who.role == "department_staff":
        if not who.department or department not in (None, who.department):
            raise HTTPException(403, detail="department staff read their own department's "
                                            "notices")
        department = who.department
    scope = area or who.area
    if not path_within(scope, who.area):
        raise HTTPException(403, detail="the requested area lies outside the caller's area")
    items = app.notices(scope, department, state)
    return NoticeList(as_of=app.clock.now(), total=len(items),
                      items=[NoticeItem.model_validate(i) for i in items[:limit]])


@router.post("/cases/{case_id}/notices", status_code=201)
def issue_notice(case_id: uuid.UUID, cmd: NoticeCommand, app: App, who: Supervisor
                 ) -> dict[str, Any]:
    """督办: require the responsible department to respond by a deadline."""
    case_in_area(app, case_id, who)
    return app.issue_notice(case_id, cmd.reason, cmd.respond_by, who.as_actor())


@router.post("/cases/{case_id}/notices/{notice_id}/response")
def answer_notice(case_id: uuid.UUID, notice_id: str, cmd: NoticeResponse, app: App,
                  who: Staff) -> dict[str, Any]:
    """The noticed department's response (its token names the department)."""
    if not who.department:
        raise HTTPException(403, detail="the token names no department")
    state = app.state(case_id)
    if not (who.can_see(state["area_path"]) or who.department == state["department"]):
        raise HTTPException(403, detail=f"case {case_id} is not the caller's")
    return app.answer_notice(case_id, notice_id, who.department, cmd.response, who.as_actor())


@router.get("/cases/{case_id}/file")
def case_file(case_id: uuid.UUID, app: App, who: Reader,
              as_of: AwareDatetime | None = None) -> dict[str, Any]:
    """一件一档: every entry from every service, who and when; `as_of` shows the case as it
    stood at that moment (time travel)."""
    case_in_area(app, case_id, who)
    return app.case_file(case_id, as_of)


@router.get("/cases/{case_id}/verify")
def verify(case_id: uuid.UUID, app: App, who: Reader) -> dict[str, Any]:
    """Walk the hash chain; `first_broken` names the first entry that does not hold."""
    case_in_area(app, case_id, who)
    return app.verify(case_id)


def _archive_page(app: SupervisionApplication, case_id: uuid.UUID, who: Caller,
                  as_of: datetime | None) -> str:
    case_in_area(app, case_id, who)
    return render_html(app.case_file(case_id, as_of), app.verify(case_id), datetime.now(UTC),
                       f"{who.name or who.id} ({who.role})")


@router.get("/cases/{case_id}/archive.html", response_class=HTMLResponse)
def archive_html(case_id: uuid.UUID, app: App, who: Reader,
                 as_of: AwareDatetime | None = None) -> HTMLResponse:
    return HTMLResponse(_archive_page(app, case_id, who, as_of))


@router.get("/cases/{case_id}/archive.pdf")
async def archive_pdf(case_id: uuid.UUID, app: App, who: Reader,
                      as_of: AwareDatetime | None = None) -> Response:
    page = await asyncio.to_thread(_archive_page, app, case_id, who, as_of)
    try:
        pdf = await asyncio.to_thread(print_pdf, page, app.options.chromium)
    except PdfError as exc:
        raise HTTPException(503, detail=f"PDF printing is unavailable: {exc}") from None
    return Response(pdf, media_type="application/pdf", headers={
        "content-disposition": f'attachment; filename="case-{case_id}.pdf"'})


@router.get("/evaluation")
def evaluation(
    app: App, who: Reader,
    by: Literal["department", "area"] = "department",
    area: Annotated[str | None, Query(pattern=AREA)] = None,
    level: Annotated[int, Query(ge=1, le=6)] = 2,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> dict[str, Any]:
    """跟踪问效 by department, or by area at `level` (1 city … 6 unit), over cases first
    dispatched in [since, until) within the caller's area (or `area` inside it)."""
    scope = area or who.area
    if not path_within(scope, who.area):
        raise HTTPException(403, detail="the requested area lies outside the caller's area")

    def within(s: dict[str, Any]) -> bool:
        first = datetime.fromisoformat(s["dispatches"][0]["at"])
        return (path_within(join_path(tuple(s["area_path"])), scope)
                and (since is None or first >= since) and (until is None or first < until))

    return app.evaluate(by, within, level)


@router.put("/clock")
async def set_clock(body: ClockSet, app: App,
                    who: Annotated[Caller, Depends(require_role("administrator"))]
                    ) -> ClockState:
    """Move the driven clock forward and fire what became due (only with GOV_CLOCK=driven)."""
    if not isinstance(app.clock, DrivenClock):
        raise HTTPException(409, detail={"rule": "clock_not_driven",
                                         "detail": "this instance runs on the system clock"})
    now = app.clock.set(body.now)
    fired = await asyncio.to_thread(app.fire_due)
    return ClockState(now=now, fired=fired)


async def timer_loop(runtime: object) -> None:
    """Fire due alarms every tick; the timer index catches up with the log first."""
    app: SupervisionApplication = runtime.sink  # type: ignore[attr-defined]
    tick = getattr(app.settings, "tick_seconds", 1.0)
    while True:
        await asyncio.to_thread(app.fire_due)
        await asyncio.sleep(tick)
