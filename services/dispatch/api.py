"""Department actions over HTTP. The caller's token says who acts; illegal transitions
answer 409 naming the rule, and change nothing."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.application import DispatchApplication
from services.dispatch.domain import Case
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api/cases", tags=["department actions"])
App = Annotated[DispatchApplication, Depends(application)]
Staff = Annotated[Caller, Depends(require_role("department_staff"))]
Verifier = Annotated[Caller, Depends(require_role("grid_worker", "unit_leader",
                                                  "hotline_operator", "dispatcher"))]
Dispatcher = Annotated[Caller, Depends(require_role("dispatcher"))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HandleCommand(Body):
    result: str = Field(min_length=1, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=20)


class VerifyCommand(Body):
    passed: bool
    method: Literal["on_site", "call_back"]
    remark: str = Field(default="", max_length=2000)
    satisfaction: int | None = Field(default=None, ge=1, le=5)


class EvaluateCommand(Body):
    satisfaction: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


class CaseState(BaseModel):
    case_id: uuid.UUID
    status: str
    department: str
    category: str
    urgency: str
    version: int

    @classmethod
    def of(cls, case: Case) -> CaseState:
        return cls(case_id=case.id, status=case.status.value, department=case.department,
                   category=case.category, urgency=case.urgency, version=case.version)


def visible_case(app: DispatchApplication, case_id: uuid.UUID, who: Caller) -> Case:
    """The case, if the caller's area or department covers it; otherwise 404 (not 403, so
    ids outside one's area reveal nothing)."""
    case = app.get_case(case_id)
    if not (who.can_see(case.area_path) or who.department == case.department):
        raise NotFoundError("case", case_id)
    return case


def department_of(who: Caller) -> str:
    if not who.department:
        raise HTTPException(403, detail="the token names no department")
    return who.department


@router.get("/{case_id}")
def get_case(case_id: uuid.UUID, app: App, who: CurrentCaller) -> CaseState:
    return CaseState.of(visible_case(app, case_id, who))


@router.post("/{case_id}/sign-for")
def sign_for(case_id: uuid.UUID, app: App, who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.sign_for(case_id, department_of(who), who.as_actor()))


@router.post("/{case_id}/handle")
def handle(case_id: uuid.UUID, cmd: HandleCommand, app: App, who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.handle(case_id, department_of(who), cmd.result, cmd.evidence,
                                   who.as_actor()))


@router.post("/{case_id}/verify")
def verify(case_id: uuid.UUID, cmd: VerifyCommand, app: App, who: Verifier) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.verify(case_id, cmd.passed, cmd.method, cmd.remark,
                                   cmd.satisfaction, who.as_actor()))


@router.post("/{case_id}/close")
def close(case_id: uuid.UUID, app: App, who: Dispatcher) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.close_case(case_id, who.as_actor()))


@router.post("/{case_id}/evaluate")
def evaluate(case_id: uuid.UUID, cmd: EvaluateCommand, app: App, who: Verifier) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.evaluate(case_id, cmd.satisfaction, cmd.comment, who.as_actor()))
