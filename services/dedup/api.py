"""Dedup over HTTP: a case's file as dedup keeps it (the review queue comes here)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.dedup.application import DedupApplication
from services.dedup.domain import CaseFile
from shared.runtime.auth import CurrentCaller
from shared.runtime.service import application
from shared.runtime.store import NotFoundError

router = APIRouter(prefix="/api/dedup", tags=["dedup"])
App = Annotated[DedupApplication, Depends(application)]


class CaseReports(BaseModel):
    case_id: uuid.UUID
    report_ids: list[uuid.UUID]


@router.get("/cases/{case_id}")
def case_reports(case_id: uuid.UUID, app: App, who: CurrentCaller) -> CaseReports:
    if case_id not in app.repository:
        raise NotFoundError("case", case_id)
    case: CaseFile = app.repository.get(case_id)
    if not who.can_see(case.area_path):
        raise NotFoundError("case", case_id)
    return CaseReports(case_id=case.id, report_ids=case.report_ids)
