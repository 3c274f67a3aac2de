"""Stored intake events -> integration events."""

from __future__ import annotations

from typing import Any

from shared.events import Channel, IntegrationEvent, Location
from shared.events.intake import (
    CaseReported,
    ContactUnmasked,
    PersonalData,
    PersonErased,
    ReportPlaced,
)
from shared.runtime.meta import envelope

PRODUCER = "intake"


def to_integration(e: Any) -> IntegrationEvent | None:
    kind = type(e).__name__
    if kind == "Received":
        return received(e)
    if kind == "Placed":
        return ReportPlaced(
            **envelope(e, PRODUCER), report_id=e.originator_id, place_code=e.place_code,
            area_path=tuple(e.area_path),
            location=Location(**e.location) if e.location else None)
    if kind == "ContactErased":
        return PersonErased(**envelope(e, PRODUCER), report_id=e.originator_id,
                            person_role=e.role, person_ref=e.person_ref, basis=e.basis)
    if kind == "ContactUnmasked":
        return ContactUnmasked(**envelope(e, PRODUCER), report_id=e.originator_id,
                               person_role=e.role, purpose=e.purpose)
    return None  # what intake learns of a case stays inside intake


def received(e: Any) -> CaseReported:
    contact = getattr(e, "contact", None)
    return CaseReported(
        **envelope(e, PRODUCER),
        report_id=e.originator_id,
        channel=Channel(e.channel),
        external_ref=e.external_ref,
        category=e.category,
        title=e.title,
        description=e.description,
        location=Location(**e.location) if e.location else None,
        place_code=e.place_code,
        area_path=tuple(e.area_path),
        placed=e.placed,
        reported_at=e.reported_at,
        attachments=tuple(e.attachments),
        address=getattr(e, "address", ""),
        source_category=getattr(e, "source_category", ""),
        assigned_department=getattr(e, "assigned_department", None),
        channel_details=dict(getattr(e, "channel_details", None) or {}),
        contact=PersonalData.model_validate(contact) if contact else None,
    )
