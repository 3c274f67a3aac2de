"""Supervision over HTTP: a case's watch, and the driven clock for tests and drills."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel

from services.supervision.application import SupervisionApplication
from services.supervision.domain import Watch
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.clock import DrivenClock
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api/supervision", tags=["supervision"])
App = Annotated[SupervisionApplication, Depends(application)]


class WatchState(BaseModel):
    case_id: uuid.UUID
    department: str
    deadlines: dict[str, datetime]
    done: list[str]
    fired: list[str]
    ended: bool


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
                      done=sorted(w.done), fired=sorted(w.fired), ended=w.ended)


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
