"""Department, dispatcher and town actions over HTTP. The caller's token says who acts (a
department's staff act for the token's department); illegal transitions answer 409 naming
the rule, and change nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.dispatch.application import DispatchApplication
from services.dispatch.domain import Case
from shared.catalogue import departments
from shared.places.codes import level_of_code
from shared.places.model import Level
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api/cases", tags=["department actions"])
App = Annotated[DispatchApplication, Depends(application)]
Staff = Annotated[Caller, Depends(require_role("department_staff"))]
Verifier = Annotated[Caller, Depends(require_role("grid_worker", "unit_leader",
                                                  "hotline_operator", "dispatcher"))]
Dispatcher = Annotated[Caller, Depends(require_role("dispatcher"))]
Coordinator = Annotated[Caller, Depends(require_role("dispatcher", "leader",
                                                     "department_staff"))]
TownOfficer = Annotated[Caller, Depends(require_role("dispatcher", "leader"))]


def known_department(code: str) -> str:
    if code not in departments():
        raise ValueError(f"unknown department {code!r}")
    return code


Department = Annotated[str, AfterValidator(known_department)]
Departments = Annotated[list[Department], Field(min_length=1, max_length=13)]
Level_ = Literal["city", "district", "town", "village"]


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

    @model_validator(mode="after")
    def _failure_says_why(self) -> VerifyCommand:
        if not self.passed and not self.remark.strip():
            raise ValueError("a failed verification needs a remark for the department")
        return self


class EvaluateCommand(Body):
    satisfaction: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


class ReturnCommand(Body):
    reason: str = Field(min_length=1, max_length=2000)


class RedispatchCommand(Body):
    department: Department
    level: Level_ | None = None  # default: the level the case was handled at
    remark: str = Field(default="", max_length=2000)


class ArbitrateCommand(Body):
    department: Department
    level: Level_ | None = None
    decision: str = Field(min_length=1, max_length=2000)


class ExtensionCommand(Body):
    days: int = Field(ge=1, le=60, description="working days added to the current deadline")
    reason: str = Field(min_length=1, max_length=2000)


class DecisionCommand(Body):
    approved: bool
    remark: str = Field(default="", max_length=2000)


class UrgencyCommand(Body):
    urgency: Literal["urgent", "normal"]
    reason: str = Field(min_length=1, max_length=500)


class CoHandlingCommand(Body):
    departments: Departments
    task: str = Field(default="", max_length=2000)


class PartCommand(Body):
    part: str = Field(min_length=1, max_length=4000)


class ConsultationCommand(Body):
    subject: str = Field(min_length=1, max_length=500)
    participants: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=2, max_length=30, description="departments, committees, residents' reps")


class ConclusionCommand(Body):
    conclusion: str = Field(min_length=1, max_length=4000)
    decisions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=30)


class WhistleCommand(Body):
    departments: Departments
    reason: str = Field(min_length=1, max_length=2000)
    limit_hours: float = Field(default=2, gt=0, le=40, description="working hours to 报到")


class CaseState(BaseModel):
    case_id: uuid.UUID
    status: str
    area_path: list[str]
    department: str
    level: str
    handling_place: str
    category: str
    urgency: str
    urgency_reasons: list[str]
    list_version: int
    round: int
    version: int
    sign_deadline: datetime
    handle_deadline: datetime
    original_handle_deadline: datetime
    return_deadline: datetime
    warnings: list[str]
    returns: list[dict[str, Any]]
    arbitrated: bool
    extension: dict[str, Any] | None
    extensions: list[dict[str, Any]]
    co_departments: dict[str, str | None]
    consultations: list[dict[str, Any]]
    whistles: list[dict[str, Any]]
    reopen_count: int
    remark: str

    @classmethod
    def of(cls, case: Case) -> CaseState:
        fields = set(cls.model_fields) - {"case_id", "status"}
        return cls(case_id=case.id, status=case.status.value,
                   **{f: getattr(case, f) for f in fields})


def visible_case(app: DispatchApplication, case_id: uuid.UUID, who: Caller) -> Case:
    """The case, if it lies in the caller's area; otherwise 404 (not 403, so ids outside
    one's area reveal nothing). Department staff too: a town's office of a department
    does not see another town's cases of that department."""
    case = app.get_case(case_id)
    if not who.can_see(case.area_path):
        raise NotFoundError("case", case_id)
    return case


def department_of(who: Caller) -> str:
    if not who.department:
        raise HTTPException(403, detail="the token names no department")
    return who.department


def town_of(who: Caller) -> str:
    """吹哨 is the town's (镇街) call: a dispatcher or leader whose place is a town."""
    if level_of_code(who.place) is not Level.TOWN:
        raise HTTPException(403, detail="only a town or street (镇街) blows the whistle")
    return who.place


@router.get("/{case_id}")
def get_case(case_id: uuid.UUID, app: App, who: CurrentCaller) -> CaseState:
    return CaseState.of(visible_case(app, case_id, who))


# -- the assigned department ---------------------------------------------------------------

@router.post("/{case_id}/sign-for")
def sign_for(case_id: uuid.UUID, app: App, who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.sign_for(case_id, department_of(who), who.as_actor()))


@router.post("/{case_id}/return")
def return_case(case_id: uuid.UUID, cmd: ReturnCommand, app: App, who: Staff) -> CaseState:
    """退单: not this department's matter, within the return limit."""
    visible_case(app, case_id, who)
    return CaseState.of(app.return_case(case_id, department_of(who), cmd.reason,
                                        who.as_actor()))


@router.post("/{case_id}/extension")
def request_extension(case_id: uuid.UUID, cmd: ExtensionCommand, app: App,
                      who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.request_extension(case_id, department_of(who), cmd.days,
                                              cmd.reason, who.as_actor()))


@router.post("/{case_id}/handle")
def handle(case_id: uuid.UUID, cmd: HandleCommand, app: App, who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.handle(case_id, department_of(who), cmd.result, cmd.evidence,
                                   who.as_actor()))


# -- dispatchers ---------------------------------------------------------------------------

@router.post("/{case_id}/redispatch")
def redispatch(case_id: uuid.UUID, cmd: RedispatchCommand, app: App,
               who: Dispatcher) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.redispatch(case_id, cmd.department, cmd.level, cmd.remark,
                                       who.as_actor()))


@router.post("/{case_id}/arbitrate")
def arbitrate(case_id: uuid.UUID, cmd: ArbitrateCommand, app: App,
              who: Dispatcher) -> CaseState:
    """After repeated returns the level above the handling level decides who handles."""
    visible_case(app, case_id, who)
    return CaseState.of(app.arbitrate(case_id, cmd.department, cmd.level, cmd.decision,
                                      who.as_actor(), who.area))


@router.post("/{case_id}/extension/decision")
def decide_extension(case_id: uuid.UUID, cmd: DecisionCommand, app: App,
                     who: Dispatcher) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.decide_extension(case_id, cmd.approved, cmd.remark,
                                             who.as_actor()))


@router.post("/{case_id}/urgency")
def change_urgency(case_id: uuid.UUID, cmd: UrgencyCommand, app: App,
                   who: Dispatcher) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.change_urgency(case_id, cmd.urgency, cmd.reason, who.as_actor()))


@router.post("/{case_id}/close")
def close(case_id: uuid.UUID, app: App, who: Dispatcher) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.close_case(case_id, who.as_actor()))


# -- co-handling and consultation -----------------------------------------------------------

@router.post("/{case_id}/co-handling")
def request_co_handling(case_id: uuid.UUID, cmd: CoHandlingCommand, app: App,
                        who: Coordinator) -> CaseState:
    """协办, asked by a dispatcher or by the lead department's staff."""
    visible_case(app, case_id, who)
    if who.role == "leader":
        raise HTTPException(403, detail="co-handling is asked by a dispatcher or the lead")
    lead = department_of(who) if who.role == "department_staff" else None
    return CaseState.of(app.request_co_handling(case_id, cmd.departments, cmd.task,
                                                who.as_actor(), lead))


@router.post("/{case_id}/co-handling/part")
def report_part(case_id: uuid.UUID, cmd: PartCommand, app: App, who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.report_part(case_id, department_of(who), cmd.part,
                                        who.as_actor()))


@router.post("/{case_id}/consultations")
def open_consultation(case_id: uuid.UUID, cmd: ConsultationCommand, app: App,
                      who: Coordinator) -> CaseState:
    """会商研判, convened by a dispatcher, a leader or the lead department."""
    case = visible_case(app, case_id, who)
    if who.role == "department_staff" and who.department != case.department:
        raise HTTPException(403, detail="only the lead department convenes a consultation")
    return CaseState.of(app.open_consultation(case_id, cmd.subject, cmd.participants,
                                              who.as_actor()))


@router.post("/{case_id}/consultations/{number}/conclusion")
def conclude_consultation(case_id: uuid.UUID, number: int, cmd: ConclusionCommand, app: App,
                          who: Coordinator) -> CaseState:
    case = visible_case(app, case_id, who)
    if who.role == "department_staff" and who.department != case.department:
        raise HTTPException(403, detail="only the lead department records the conclusion")
    return CaseState.of(app.conclude_consultation(case_id, number, cmd.conclusion,
                                                  cmd.decisions, who.as_actor()))


# -- 吹哨报到 -------------------------------------------------------------------------------

@router.post("/{case_id}/whistle")
def whistle(case_id: uuid.UUID, cmd: WhistleCommand, app: App, who: TownOfficer) -> CaseState:
    place = town_of(who)
    visible_case(app, case_id, who)
    return CaseState.of(app.whistle(case_id, place, cmd.departments, cmd.reason,
                                    cmd.limit_hours, who.as_actor()))


@router.post("/{case_id}/whistle/report-in")
def report_in(case_id: uuid.UUID, app: App, who: Staff) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.report_in(case_id, department_of(who), who.as_actor()))


@router.post("/{case_id}/whistle/close")
def close_whistle(case_id: uuid.UUID, app: App, who: TownOfficer) -> CaseState:
    town_of(who)
    visible_case(app, case_id, who)
    return CaseState.of(app.close_whistle(case_id, who.as_actor()))


# -- verification ---------------------------------------------------------------------------

@router.post("/{case_id}/verify")
def verify(case_id: uuid.UUID, cmd: VerifyCommand, app: App, who: Verifier) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.verify(case_id, cmd.passed, cmd.method, cmd.remark,
                                   cmd.satisfaction, who.as_actor()))


@router.post("/{case_id}/evaluate")
def evaluate(case_id: uuid.UUID, cmd: EvaluateCommand, app: App, who: Verifier) -> CaseState:
    visible_case(app, case_id, who)
    return CaseState.of(app.evaluate(case_id, cmd.satisfaction, cmd.comment, who.as_actor()))
