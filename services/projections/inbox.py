"""A department's inbox (待办): its cases waiting to be signed for or handled, urgent cases
first (轻重缓急), then by the next deadline (signing for a dispatched case, handling for a
signed-for one). Scoped by the caller: department staff read their own department's
inbox within their area; dispatchers, leaders and supervisors read any department's
inbox within theirs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import case, func, select

from services.projections import tables as t
from services.projections.api import CaseSummary
from services.projections.queries import within
from services.projections.readmodel import CaseReadModel
from shared.catalogue import departments
from shared.runtime.auth import Caller, require_role
from shared.runtime.service import Offset, application

router = APIRouter(prefix="/api/departments", tags=["department inbox"])
Model = Annotated[CaseReadModel, Depends(application)]
Reader = Annotated[Caller, Depends(require_role("department_staff", "dispatcher", "leader",
                                                "supervisor", "administrator"))]
WAITING = ("dispatched", "signed_for")  # the department's move


class InboxItem(CaseSummary):
    due: datetime | None  # the deadline of the department's next step


class Inbox(BaseModel):
    department: str
    total: int
    items: list[InboxItem]


@router.get("/{department}/inbox")
def inbox(department: str, model: Model, who: Reader,
          limit: Annotated[int, Query(ge=1, le=500)] = 100,
          offset: Offset = 0) -> Inbox:
    if department not in departments():
        raise HTTPException(404, detail=f"no department {department!r}")
    if who.role == "department_staff" and who.department != department:
        raise HTTPException(403, detail="department staff read their own department's inbox")
    c = t.cases.c
    due = case((c.status == "dispatched", c.sign_deadline), else_=c.handle_deadline)
    where = (c.department == department, c.status.in_(WAITING), within(c.area_path, who.area))
    query = (select(t.cases, due.label("due")).where(*where)
             .order_by(case((c.urgency == "urgent", 0), else_=1), due.is_(None), due, c.case_id)
             .limit(limit).offset(offset))
    with model.reading(who.area) as conn:
        total = conn.execute(select(func.count()).select_from(t.cases).where(*where)).scalar_one()
        rows = conn.execute(query).mappings().all()
    return Inbox(department=department, total=int(total),
                 items=[InboxItem.model_validate(dict(r)) for r in rows])
