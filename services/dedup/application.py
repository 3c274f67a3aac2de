"""The dedup application. For now every report is registered as a new case; the
matcher (candidate search, text similarity, review queue) plugs in here."""

from __future__ import annotations

import uuid

from eventsourcing.application import ProcessingEvent

from services.dedup.domain import CaseFile
from shared.events import IntegrationEvent
from shared.events.intake import CaseReported
from shared.runtime.meta import meta_from, system_actor
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Handler, ServiceApplication


class DedupApplication(ServiceApplication):
    name = "dedup"

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.actor = system_actor("dedup")

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        return {CaseReported: self.on_reported}

    def on_reported(self, event: CaseReported, processing: ProcessingEvent[uuid.UUID]) -> None:
        if self.exists(event.case_id, processing):
            return  # a republished report
        case = CaseFile(
            id=event.case_id,
            report_id=event.report_id,
            channel=event.channel.value,
            category=event.category,
            title=event.title,
            description=event.description,
            location=event.location.model_dump() if event.location else None,
            place_code=event.place_code,
            area_path=list(event.area_path),
            reported_at=event.reported_at,
            meta=meta_from(event, self.actor),
        )
        processing.collect_events(case)
