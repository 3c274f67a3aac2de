"""Stored supervision events -> integration events. Only alarms leave the service."""

from __future__ import annotations

from typing import Any

from shared.events import IntegrationEvent
from shared.events import supervision as contract
from shared.runtime.meta import envelope

PRODUCER = "supervision"


def to_integration(e: Any) -> IntegrationEvent | None:
    if type(e).__name__ != "Alarmed":
        return None
    env = envelope(e, PRODUCER)
    common = {"department": e.department, "deadline_kind": e.kind}
    match e.level:
        case "warned":
            return contract.CaseWarned(**env, **common, deadline=e.deadline,
                                       elapsed_share=e.elapsed_share)
        case "overdue":
            return contract.CaseOverdue(**env, **common, deadline=e.deadline)
        case "escalated":
            return contract.CaseEscalated(**env, **common, to_area=e.to_area,
                                          reason=f"{e.kind} deadline {e.deadline.isoformat()} "
                                                 "passed and the step is still not done")
    return None
