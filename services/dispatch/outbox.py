"""Stored dispatch events -> integration events (the public contract).

Every case event goes to gov.dispatch.events; the work orders a department must act on
also go to that department's own topic (gov.dispatch.dept.<code>): dispatches, reopenings,
extension decisions, urgency changes, co-handling requests and whistles. The reference
data (responsibility list, holiday calendar) stays inside the service.
"""

from __future__ import annotations

from typing import Any, Literal

from shared.events import IntegrationEvent
from shared.events import dispatch as contract
from shared.events.topics import department_topic
from shared.runtime.meta import envelope
from shared.runtime.relay import Fanout

PRODUCER = "dispatch"


def to_departments(event: IntegrationEvent, *departments: str) -> Fanout:
    return Fanout(event, tuple(department_topic(d) for d in departments))


def to_integration(e: Any) -> IntegrationEvent | Fanout | None:
    """Matched on the stored event's class name: Case.Dispatched, Case.SignedFor, ..."""
    if type(e).__qualname__.split(".")[0] != "Case":
        return None  # ResponsibilityList, HolidayCalendar: internal reference data
    env = envelope(e, PRODUCER)
    name = type(e).__name__
    if name in ("Dispatched", "Redispatched", "Arbitrated"):
        return to_departments(dispatched(e, env), e.department)
    return _follow_up(name, e, env)


Reason = Literal["registered", "redispatched", "arbitrated"]
REASONS: dict[str, Reason] = {"Dispatched": "registered", "Redispatched": "redispatched",
                              "Arbitrated": "arbitrated"}


def dispatched(e: Any, env: dict[str, Any]) -> contract.CaseDispatched:
    """The first dispatch, a re-dispatch after a return, or an arbitration decision: each
    is a CaseDispatched (round 1, 2, ...) so followers need only one event to move on."""
    return contract.CaseDispatched(
        **env, department=e.department, category=e.category, area_path=tuple(e.area_path),
        urgency=e.urgency, round=getattr(e, "round", 1), sign_deadline=e.sign_deadline,
        handle_deadline=e.handle_deadline, reason=REASONS[type(e).__name__],
        remark=getattr(e, "remark", "") or getattr(e, "decision", ""), level=e.level,
        handling_place=e.handling_place, list_version=getattr(e, "list_version", None),
        return_deadline=e.return_deadline, channel=getattr(e, "channel", None),
        urgency_reasons=tuple(getattr(e, "urgency_reasons", ())), warnings=tuple(e.warnings))


def _follow_up(name: str, e: Any, env: dict[str, Any]) -> IntegrationEvent | Fanout | None:
    match name:
        case "SignedFor":
            return contract.CaseSignedFor(**env, department=e.department)
        case "Returned":
            return contract.CaseReturned(
                **env, department=e.department, reason=e.reason, returns=e.returns,
                awaiting="arbitration" if e.to_arbitration else "redispatch")
        case "ExtensionRequested":
            return contract.CaseExtensionRequested(
                **env, department=e.department, reason=e.reason,
                requested_deadline=e.requested_deadline)
        case "ExtensionGranted":
            return to_departments(contract.CaseExtensionGranted(
                **env, department=e.department, handle_deadline=e.handle_deadline,
                previous_deadline=e.previous_deadline, remark=e.remark), e.department)
        case "ExtensionRefused":
            return to_departments(contract.CaseExtensionRefused(
                **env, department=e.department, remark=e.remark), e.department)
        case "UrgencyChanged":
            return to_departments(contract.CaseUrgencyChanged(
                **env, department=e.department, urgency=e.urgency, previous=e.previous,
                reason=e.reason), e.department)
        case "CoHandlingRequested":
            return to_departments(contract.CaseCoHandlingRequested(
                **env, lead_department=e.lead, departments=tuple(e.departments), task=e.task),
                *e.departments)
        case "PartReported":
            return contract.CaseCoPartReported(**env, department=e.department, part=e.part)
        case "ConsultationOpened":
            return contract.CaseConsultationOpened(
                **env, number=e.number, subject=e.subject, participants=tuple(e.participants))
        case "ConsultationConcluded":
            return contract.CaseConsultationConcluded(
                **env, number=e.number, conclusion=e.conclusion, decisions=tuple(e.decisions))
        case "WhistleBlown":
            return to_departments(contract.CaseWhistleBlown(
                **env, number=e.number, place=e.place, departments=tuple(e.departments),
                reason=e.reason, report_deadline=e.report_deadline), *e.departments)
        case "ReportedIn":
            return contract.CaseReportedIn(**env, number=e.number, department=e.department,
                                           on_time=e.on_time)
        case "WhistleClosed":
            return contract.CaseWhistleClosed(
                **env, number=e.number, reported=tuple(e.reported), absent=tuple(e.absent),
                late=tuple(e.late))
    return _closing(name, e, env)


def _closing(name: str, e: Any, env: dict[str, Any]) -> IntegrationEvent | Fanout | None:
    match name:
        case "Handled":
            return contract.CaseHandled(**env, department=e.department, result=e.result,
                                        evidence=tuple(e.evidence))
        case "Verified":
            return contract.CaseVerified(**env, passed=e.passed, method=e.method,
                                         remark=e.remark, satisfaction=e.satisfaction)
        case "Reopened":
            return to_departments(contract.CaseReopened(
                **env, department=e.department, remark=e.remark,
                handle_deadline=e.handle_deadline), e.department)
        case "Closed":
            return contract.CaseClosed(**env, department=e.department, on_time=e.on_time)
        case "Evaluated":
            return contract.CaseEvaluated(**env, satisfaction=e.satisfaction, comment=e.comment)
    return None
