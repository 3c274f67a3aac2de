"""The intake application: receive a submission once, whatever the channel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import IntegrityError

from services.intake.domain import Report, report_id
from services.intake.placement import Placement, place
from shared.events import Actor, Channel, Location
from shared.places.demo import load_demo_registry
from shared.places.registry import PlaceRegistry
from shared.runtime.meta import command_meta
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import ServiceApplication


@dataclass(frozen=True)
class Submission:
    """What every channel adapter produces: one validated, normalised report."""

    channel: Channel
    external_ref: str
    category: str
    title: str
    description: str
    location: Location | None
    unit_code: str | None
    reported_at: datetime
    reporter: Actor
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receipt:
    report_id: uuid.UUID
    case_id: uuid.UUID
    area_path: tuple[str, ...]
    placed: bool
    created: bool  # False: a resubmission; nothing new was recorded


class IntakeApplication(ServiceApplication):
    name = "intake"

    def __init__(self, settings: ServiceSettings, registry: PlaceRegistry | None = None) -> None:
        super().__init__(settings)
        self.registry = registry or load_demo_registry()

    def receive(self, s: Submission) -> Receipt:
        rid = report_id(s.channel.value, s.external_ref)
        existing = self._existing(rid)
        if existing is not None:
            return existing
        where = place(self.registry, s.unit_code, *((s.location.lon, s.location.lat)
                                                    if s.location else (None, None)))
        report = self._new_report(rid, s, where)
        try:
            self.save(report)
        except IntegrityError:  # the same submission raced in from another request
            if (raced := self._existing(rid)) is not None:
                return raced
            raise
        return Receipt(rid, rid, where.area_path, where.placed, created=True)

    def _existing(self, rid: uuid.UUID) -> Receipt | None:
        if rid not in self.repository:
            return None
        report: Report = self.repository.get(rid)
        return Receipt(rid, rid, tuple(report.area_path), report.placed, created=False)

    @staticmethod
    def _new_report(rid: uuid.UUID, s: Submission, where: Placement) -> Report:
        return Report(
            id=rid,
            channel=s.channel.value,
            external_ref=s.external_ref,
            category=s.category,
            title=s.title,
            description=s.description,
            location=s.location.model_dump() if s.location else None,
            place_code=where.place_code,
            area_path=list(where.area_path),
            placed=where.placed,
            reported_at=s.reported_at,
            attachments=list(s.attachments),
            meta=command_meta(s.reporter, rid),  # the report starts its case's correlation
        )

    def get_report(self, rid: uuid.UUID) -> Report | None:
        return self.repository.get(rid) if rid in self.repository else None
