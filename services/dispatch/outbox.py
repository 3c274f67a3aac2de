"""Stored dispatch events -> integration events (the public contract)."""

from __future__ import annotations

from typing import Any

from shared.events import IntegrationEvent
from shared.events import dispatch as contract
from shared.runtime.meta import envelope

PRODUCER = "dispatch"


def to_integration(e: Any) -> IntegrationEvent | None:
    """Matched on the stored event's class name: Case.Dispatched, Case.SignedFor, ..."""
    env = envelope(e, PRODUCER)
    match type(e).__name__:
        case "Dispatched":
            return contract.CaseDispatched(
                **env, department=e.department, category=e.category,
                area_path=tuple(e.area_path), urgency=e.urgency, round=1,
                sign_deadline=e.sign_deadline, handle_deadline=e.handle_deadline)
        case "SignedFor":
            return contract.CaseSignedFor(**env, department=e.department)
        case "Handled":
            return contract.CaseHandled(**env, department=e.department, result=e.result,
                                        evidence=tuple(e.evidence))
        case "Verified":
            return contract.CaseVerified(**env, passed=e.passed, method=e.method,
                                         remark=e.remark, satisfaction=e.satisfaction)
        case "Reopened":
            return contract.CaseReopened(**env, department=e.department, remark=e.remark,
                                         handle_deadline=e.handle_deadline)
        case "Closed":
            return contract.CaseClosed(**env, department=e.department, on_time=e.on_time)
        case "Evaluated":
            return contract.CaseEvaluated(**env, satisfaction=e.satisfaction, comment=e.comment)
    return None
