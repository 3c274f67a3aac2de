"""The intake application: receive a submission once, whatever the channel; follow what
becomes of its case; place what arrived outside every grid."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError

from services.intake.channels import (
    CategoryUnknown,
    ChannelMessage,
    Draft,
    normalise,
)
from services.intake.domain import Report
from services.intake.index import ReportIndex, make_engine
from services.intake.placement import (
    Placement,
    UnknownPlace,
    combined_registry,
    place,
    registry_files,
)
from shared.events import Actor, IntegrationEvent, Location
from shared.events import dispatch as dispatch_events
from shared.events.dedup import CaseRegistered, ReportMerged, ReportSplit, ReviewQueued
from shared.pii import (
    Person,
    PersonalDataVault,
    PersonForgotten,
    Sealed,
    TransportError,
    redact,
)
from shared.places.registry import PlaceRegistry
from shared.runtime.groupcommit import GroupCommit
from shared.runtime.meta import command_meta, meta_from, system_actor
from shared.runtime.prefetch import prefetch
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import (
    DomainError,
    Handler,
    NotFoundError,
    ServiceApplication,
    schema_setup_lock,
)

T = TypeVar("T")

# What dispatch publishes about a case, as intake's status of the report.
FOLLOWED: dict[type[IntegrationEvent], str] = {
    dispatch_events.CaseDispatched: "dispatched",
    dispatch_events.CaseSignedFor: "signed_for",
    dispatch_events.CaseReturned: "returned",
    dispatch_events.CaseHandled: "handled",
    dispatch_events.CaseVerified: "verified",
    dispatch_events.CaseReopened: "reopened",
    dispatch_events.CaseClosed: "closed",
    dispatch_events.CaseEvaluated: "evaluated",
}
DISPATCH_STATUSES = frozenset(FOLLOWED.values())


# What dedup decides about the report itself.
FROM_DEDUP: dict[type[IntegrationEvent], str] = {
    CaseRegistered: "registered",
    ReviewQueued: "in_review",  # 人工筛重: waits for a person
    ReportSplit: "split",  # taken back out of a case; its own registration follows
}
# Dedup's steps before a case is dispatched. They travel on dedup's topic and dispatch's
# on another, so one poll may bring a case's dispatch before its registration: a step
# back to these from dispatch's is such a late arrival, and is not taken.
BEFORE_DISPATCH = frozenset({CaseRegistered, ReviewQueued})


@dataclass(frozen=True)
class Receipt:
    report_id: uuid.UUID
    case_id: uuid.UUID
    area_path: tuple[str, ...]
    placed: bool
    created: bool  # False: a resubmission; nothing new was recorded


def receipt(report: Report, created: bool) -> Receipt:
    return Receipt(report.id, report.merged_into or report.id, tuple(report.area_path),
                   report.placed, created)


class IntakeApplication(ServiceApplication):
    name = "intake"

    def __init__(self, settings: ServiceSettings, registry: PlaceRegistry | None = None,
                 vault: PersonalDataVault | None = None) -> None:
        super().__init__(settings)
        self.registry = registry or combined_registry(registry_files(settings))
        self.engine = make_engine(settings)
        with schema_setup_lock(settings):  # instances starting together create tables once
            self.vault = vault or PersonalDataVault(self.engine)
            self.index = ReportIndex(self.engine, self)
        self.actor = system_actor("intake")
        self.group: GroupCommit[Draft, Receipt] = GroupCommit(self.record_reports)

    def close(self) -> None:
        self.engine.dispose()
        super().close()

    # -- receiving (HTTP) ----------------------------------------------------------------

    async def receive(self, draft: Draft) -> Receipt:
        """Record a report once, in one transaction with the reports submitted beside it
        (group commit). Raises UnknownPlace, DomainError (sealed data that does not open);
        a resubmission returns the first receipt and records nothing."""
        return await self.group.submit(draft)

    def receive_many(self, drafts: Sequence[Draft]) -> list[Receipt]:
        """A batch in one transaction (bulk import); raises the first draft's error."""
        outcomes = self.record_reports(drafts)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return cast(list[Receipt], outcomes)

    def record_reports(self, drafts: Sequence[Draft]) -> list[Receipt | Exception]:
        """Each draft's receipt or its own error; the new reports saved together. Known
        reports (resubmissions, also within the batch) are looked up in one query."""
        known = prefetch(self.recorder, self.mapper, {d.report_id for d in drafts})
        fresh: dict[uuid.UUID, Report] = {}
        outcomes: list[Receipt | Exception] = []
        for draft in drafts:
            first = known.get(draft.report_id) or fresh.get(draft.report_id)
            if first is not None:
                outcomes.append(receipt(first, created=False))
                continue
            try:
                report = self._new_report(draft)
            except (UnknownPlace, DomainError) as exc:
                outcomes.append(exc)
                continue
            fresh[report.id] = report
            outcomes.append(receipt(report, created=True))
        if fresh:
            try:
                self.save(*fresh.values())
            except IntegrityError:  # one of them raced in from another instance meanwhile
                return [self._record_one(d) for d in drafts]
            self.recent.keep(fresh.values())  # their statuses follow within seconds
        return outcomes

    def _record_one(self, draft: Draft) -> Receipt | Exception:
        """One report in its own transaction: the slow path after a race."""
        rid = draft.report_id
        for _ in range(2):
            if rid in self.repository:
                return receipt(self.repository.get(rid), created=False)
            try:
                report = self._new_report(draft)
                self.save(report)
            except (UnknownPlace, DomainError) as exc:
                return exc
            except IntegrityError:
                continue  # recorded by the other meanwhile: its receipt, next round
            return receipt(report, created=True)
        raise RuntimeError(f"report {rid} could be neither recorded nor read")

    def placement(self, draft: Draft) -> Placement:
        loc = draft.location
        return place(self.registry, draft.unit_code, loc.lon if loc else None,
                     loc.lat if loc else None, draft.city)

    def _new_report(self, draft: Draft) -> Report:
        where = self.placement(draft)
        rid = draft.report_id
        report = Report(
            id=rid,
            channel=draft.channel.value,
            external_ref=draft.external_ref,
            category=draft.category,
            title=draft.title,
            description=draft.description,
            location=draft.location.model_dump() if draft.location else None,
            place_code=where.place_code,
            area_path=list(where.area_path),
            placed=where.placed,
            reported_at=draft.reported_at,
            attachments=list(draft.attachments),
            meta=command_meta(draft.reporter, rid),  # the report starts its case's correlation
            address=draft.address,
            source_category=draft.source_category,
            assigned_department=draft.assigned_department,
            channel_details=dict(draft.channel_details),
            contact=self._contact(draft, rid),
        )
        return report

    def _contact(self, draft: Draft, rid: uuid.UUID) -> dict[str, str] | None:
        """Seal the person under their own key; the event keeps ciphertext and masks."""
        person = draft.person
        if draft.person_sealed is not None:
            try:
                person_data = self.vault.open_transport(draft.person_sealed)
            except TransportError as exc:
                raise DomainError("sealed_personal_data", str(exc)) from None
            person = Person.from_dict(person_data)
        if not person:
            return None
        sealed = self.vault.seal(person, aad=rid.bytes)
        masked = person.masked()
        return {"role": draft.person_role, "person_ref": sealed.person_ref, "alg": sealed.alg,
                "nonce": sealed.nonce, "ciphertext": sealed.ciphertext,
                "name_masked": masked["name"], "phone_masked": masked["phone"],
                "id_number_masked": masked["id_number"], "email_masked": masked["email"]}

    def get_report(self, rid: uuid.UUID) -> Report | None:
        return self.repository.get(rid) if rid in self.repository else None

    # -- the contact person: unmasked on record, erased by crypto-shredding ---------------

    def unmask_contact(self, rid: uuid.UUID, purpose: str, actor: Actor) -> Person:
        """The plain contact of a report, recorded (who, when, why) before it is shown.
        Raises NotFoundError, DomainError no_contact / personal_data_erased."""
        return self._retried(lambda: self._unmask(rid, redact(purpose)[:200], actor))

    def _unmask(self, rid: uuid.UUID, purpose: str, actor: Actor) -> Person:
        report = self.get_report(rid)
        if report is None:
            raise NotFoundError("report", rid)
        report.record_unmasking(purpose, command_meta(actor, rid))
        c = report.contact or {}
        try:  # nothing is saved, so nothing recorded, unless the data is shown
            person = self.vault.unseal(Sealed(c["person_ref"], c["nonce"], c["ciphertext"],
                                              c["alg"]), aad=rid.bytes)
        except PersonForgotten:  # key gone, erasure not yet recorded on this report
            raise DomainError("personal_data_erased", f"the contact person of report "
                                                      f"{rid} was erased") from None
        self.save(report)
        return person

    def erase_persons(self, person_refs: Sequence[str], basis: str, actor: Actor
                      ) -> list[uuid.UUID]:
        """Record the erasure on every report of these persons, then delete their keys.
        Recording first: a crash between the two is finished by asking again."""
        reports = self._retried(lambda: self._record_erasure(person_refs, basis, actor))
        for ref in person_refs:
            self.vault.forget(ref)
        return reports

    def _record_erasure(self, person_refs: Sequence[str], basis: str, actor: Actor
                        ) -> list[uuid.UUID]:
        rows = self.index.of_person(person_refs)
        reports = [r for r in (self.get_report(uuid.UUID(row["report_id"])) for row in rows)
                   if r is not None]
        changed = [r for r in reports if r.erase_contact(basis, command_meta(actor, r.id))]
        if changed:
            self.save(*changed)
        return [r.id for r in reports]

    @staticmethod
    def _retried(command: Callable[[], T], attempts: int = 5) -> T:
        """A report also changes as its case moves on (the consumer records what dispatch
        did): a person's command that met such a write is simply read again and redone."""
        for _ in range(attempts - 1):
            try:
                return command()
            except IntegrityError:
                continue
        return command()

    # -- manual placement ------------------------------------------------------------------

    def place_manually(self, rid: uuid.UUID, place_code: str | None,
                       location: Location | None, actor: Actor) -> Report:
        """人工定位. Raises NotFoundError, DomainError (outside every grid, already placed),
        UnknownPlace; redone if the case moved on meanwhile (`_retried`)."""
        return self._retried(lambda: self._place(rid, place_code, location, actor))

    def _place(self, rid: uuid.UUID, place_code: str | None, location: Location | None,
               actor: Actor) -> Report:
        report = self.get_report(rid)
        if report is None:
            raise NotFoundError("report", rid)
        where = place(self.registry, place_code, location.lon if location else None,
                      location.lat if location else None)
        if not where.placed:
            raise DomainError("outside_every_grid", "that point lies outside every grid; "
                                                    "give a place_code")
        report.place(where.place_code or where.area_path[-1], list(where.area_path),
                     location.model_dump() if location else None, command_meta(actor, rid))
        self.save(report)
        return report

    # -- consuming: channel topics, and what becomes of the case --------------------------

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        followed: dict[Any, Handler] = dict.fromkeys(FOLLOWED, self.on_case_event)
        followed[CaseRegistered] = self.on_case_event
        followed[ReviewQueued] = self.on_case_event
        followed[ReportSplit] = self.on_case_event
        followed[ReportMerged] = self.on_merged
        followed[ChannelMessage] = self.on_channel_message
        return cast(dict[type[IntegrationEvent], Handler], followed)

    def on_channel_message(self, message: ChannelMessage,
                           processing: ProcessingEvent[uuid.UUID]) -> None:
        draft = self._draft(message)
        if self.exists(draft.report_id, processing):
            return  # resent by the channel, or redelivered
        try:
            report = self._new_report(draft)
        except UnknownPlace as exc:
            raise DomainError("unknown_place", str(exc)) from None
        processing.collect_events(report)

    @staticmethod
    def _draft(message: ChannelMessage) -> Draft:
        try:
            return normalise(message.body, message.sender, now=datetime.now(UTC))
        except CategoryUnknown as exc:
            raise DomainError("category_unknown", str(exc)) from None

    def on_case_event(self, event: IntegrationEvent,
                      processing: ProcessingEvent[uuid.UUID]) -> None:
        report = self._report_of(event.case_id, processing)
        if report is None:
            return  # a case that did not start in this intake
        if type(event) in BEFORE_DISPATCH and report.status in DISPATCH_STATUSES:
            return
        status = FROM_DEDUP.get(type(event)) or FOLLOWED[type(event)]
        note = {dispatch_events.CaseReturned: "reason", dispatch_events.CaseHandled: "result",
                ReviewQueued: "reason"}.get(type(event), "remark")
        note = str(getattr(event, note, "") or "")
        if report.follow(str(event.event_id), status, getattr(event, "department", None),
                         note[:200], meta_from(event, self.actor)):
            processing.collect_events(report)

    def on_merged(self, event: ReportMerged, processing: ProcessingEvent[uuid.UUID]) -> None:
        report = self._report_of(event.report_id, processing)
        if report is not None and report.merge_into(str(event.event_id), event.case_id,
                                                    meta_from(event, self.actor)):
            processing.collect_events(report)

    def _report_of(self, rid: uuid.UUID, processing: ProcessingEvent[uuid.UUID]
                   ) -> Report | None:
        try:
            report: Report = self.load(rid, processing)
        except AggregateNotFoundError:
            return None
        return report
