"""Stored supervision events -> integration events. Alarms and notices leave the service;
the watch's bookkeeping and the case archives stay inside."""

from __future__ import annotations

from typing import Any

from services.supervision.domain import NOTICE, REPORT_IN
from shared.events import IntegrationEvent
from shared.events import supervision as contract
from shared.runtime.meta import envelope

PRODUCER = "supervision"


def to_integration(e: Any) -> IntegrationEvent | None:
    match type(e).__qualname__:
        case "Watch.Alarmed":
            return _alarm(e)
        case "Watch.NoticeIssued":
            return contract.CaseNoticeIssued(
                **envelope(e, PRODUCER), notice_id=e.notice_id, department=e.department,
                reason=e.reason, respond_by=e.respond_by)
        case "Watch.NoticeAnswered":
            return contract.CaseNoticeAnswered(
                **envelope(e, PRODUCER), notice_id=e.notice_id, department=e.department,
                response=e.response, on_time=e.on_time)
    return None


def _alarm(e: Any) -> IntegrationEvent | None:
    env = envelope(e, PRODUCER)
    if e.kind.startswith(NOTICE):
        return contract.CaseNoticeOverdue(**env, notice_id=e.kind[len(NOTICE):],
                                          department=e.department, respond_by=e.deadline)
    if e.kind.startswith(REPORT_IN):
        number = int(e.kind[len(REPORT_IN):].split(":", 1)[0])
        return contract.CaseReportInOverdue(**env, number=number, department=e.department,
                                            report_deadline=e.deadline)
    common = {"department": e.department, "deadline_kind": e.kind}
    match e.level:
        case "warned":
            return contract.CaseWarned(**env, **common, deadline=e.deadline,
                                       elapsed_share=e.elapsed_share)
        case "overdue":
            return contract.CaseOverdue(**env, **common, deadline=e.deadline)
        case "reminded":
            return contract.CaseReminded(**env, **common, deadline=e.deadline)
        case "escalated":
            return contract.CaseEscalated(**env, **common, to_area=e.to_area,
                                          reason=f"{e.kind} deadline {e.deadline.isoformat()} "
                                                 "passed and the step is still not done")
    return None
