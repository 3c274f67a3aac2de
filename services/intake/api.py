"""Intake over HTTP: the grid worker's and unit leader's report from the phone app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.intake.application import IntakeApplication, Submission
from services.intake.placement import UnknownPlace
from shared.catalogue import categories, is_category
from shared.events import Channel, Location
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api", tags=["intake"])
REPORTERS = ("grid_worker", "unit_leader")
App = Annotated[IntakeApplication, Depends(application)]


class GridReport(BaseModel):
    """A report from the grid app. `external_ref` is the app's own draft id: sending the
    same one again returns the same case and records nothing new."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_ref: str | None = Field(default=None, min_length=1, max_length=128)
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=200)
    description: str = Field(min_length=2, max_length=4000)
    location: Location | None = None
    unit_code: str | None = Field(default=None, pattern=r"^\d{6,18}$")
    reported_at: AwareDatetime | None = None
    attachments: list[str] = Field(default_factory=list, max_length=9)

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if not is_category(v):
            raise ValueError(f"unknown category {v!r}; see GET /api/categories")
        return v

    @model_validator(mode="after")
    def _somewhere(self) -> GridReport:
        if self.location is None and self.unit_code is None:
            raise ValueError("give a location (lon, lat) or a unit_code")
        return self


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    case_id: uuid.UUID
    area_path: list[str]
    placed: bool
    duplicate_submission: bool


@router.post("/reports", status_code=202, response_model=ReportAccepted)
def submit_report(body: GridReport, app: App, response: Response,
                  who: Annotated[Caller, Depends(require_role(*REPORTERS))]) -> ReportAccepted:
    submission = Submission(
        channel=Channel.GRID_APP,
        external_ref=body.external_ref or str(uuid.uuid4()),
        category=body.category,
        title=body.title,
        description=body.description,
        location=body.location,
        unit_code=body.unit_code,
        reported_at=body.reported_at or datetime.now(UTC),
        reporter=who.as_actor(),
        attachments=tuple(body.attachments),
    )
    try:
        receipt = app.receive(submission)
    except UnknownPlace as exc:
        raise HTTPException(422, detail=[{"loc": ["body", "unit_code"], "msg": str(exc),
                                          "type": "value_error"}]) from None
    if not receipt.created:
        response.status_code = 200
    return ReportAccepted(report_id=receipt.report_id, case_id=receipt.case_id,
                          area_path=list(receipt.area_path), placed=receipt.placed,
                          duplicate_submission=not receipt.created)


class ReportState(BaseModel):
    report_id: uuid.UUID
    channel: str
    category: str
    area_path: list[str]
    placed: bool


@router.get("/reports/{report_id}")
def get_report(report_id: uuid.UUID, app: App, who: CurrentCaller) -> ReportState:
    report = app.get_report(report_id)
    if report is None or not who.can_see(report.area_path):
        raise NotFoundError("report", report_id)  # outside the caller's area: as if absent
    return ReportState(report_id=report.id, channel=report.channel, category=report.category,
                       area_path=report.area_path, placed=report.placed)


@router.get("/categories")
def list_categories() -> list[dict[str, str]]:
    return [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en}
            for c in categories().values()]
