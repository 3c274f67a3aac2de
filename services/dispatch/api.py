"""Department actions over HTTP. Illegal transitions answer 409 naming the rule."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.application import DispatchApplication
from services.dispatch.domain import Case
from shared.events import Actor
from shared.runtime.service import application

router = APIRouter(prefix="/api/cases", tags=["department actions"])
App = Annotated[DispatchApplication, Depends(application)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: Actor


class DepartmentCommand(Command):
    department: str = Field(min_length=1, max_length=64)


class HandleCommand(DepartmentCommand):
    result: str = Field(min_length=1, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=20)


class VerifyCommand(Command):
    passed: bool
    method: Literal["on_site", "call_back"]
    remark: str = Field(default="", max_length=2000)
    satisfaction: int | None = Field(default=None, ge=1, le=5)


class EvaluateCommand(Command):
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


@router.get("/{case_id}")
def get_case(case_id: uuid.UUID, app: App) -> CaseState:
    return CaseState.of(app.get_case(case_id))


@router.post("/{case_id}/sign-for")
def sign_for(case_id: uuid.UUID, cmd: DepartmentCommand, app: App) -> CaseState:
    return CaseState.of(app.sign_for(case_id, cmd.department, cmd.actor))


@router.post("/{case_id}/handle")
def handle(case_id: uuid.UUID, cmd: HandleCommand, app: App) -> CaseState:
    return CaseState.of(app.handle(case_id, cmd.department, cmd.result, cmd.evidence, cmd.actor))


@router.post("/{case_id}/verify")
def verify(case_id: uuid.UUID, cmd: VerifyCommand, app: App) -> CaseState:
    return CaseState.of(
        app.verify(case_id, cmd.passed, cmd.method, cmd.remark, cmd.satisfaction, cmd.actor)
    )


@router.post("/{case_id}/close")
def close(case_id: uuid.UUID, cmd: Command, app: App) -> CaseState:
    return CaseState.of(app.close_case(case_id, cmd.actor))


@router.post("/{case_id}/evaluate")
def evaluate(case_id: uuid.UUID, cmd: EvaluateCommand, app: App) -> CaseState:
    return CaseState.of(app.evaluate(case_id, cmd.satisfaction, cmd.comment, cmd.actor))
