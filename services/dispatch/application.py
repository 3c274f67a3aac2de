"""The dispatch application: a policy for registered cases, commands for departments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent

from services.dispatch.domain import Case
from services.dispatch.routing import RoutingTable, urgency
from shared.events import Actor, IntegrationEvent
from shared.events.dedup import CaseRegistered
from shared.runtime.meta import command_meta, meta_from, system_actor
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Handler, NotFoundError, ServiceApplication


class DispatchApplication(ServiceApplication):
    name = "dispatch"

    def __init__(self, settings: ServiceSettings, routing: RoutingTable | None = None) -> None:
        super().__init__(settings)
        self.routing = routing or RoutingTable()
        self.actor = system_actor("dispatch")

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        return {CaseRegistered: self.on_registered}

    # -- policy -----------------------------------------------------------------------

    def on_registered(self, event: CaseRegistered, processing: ProcessingEvent[uuid.UUID]) -> None:
        if self.exists(event.case_id, processing):
            return  # a republished registration
        route = self.routing.route(event.category)
        level = urgency(event.category, f"{event.title} {event.description}")
        deadlines = self.routing.deadlines(route, event.occurred_at, level == "urgent")
        case = Case(
            id=event.case_id,
            category=event.category,
            area_path=list(event.area_path),
            department=route.department,
            urgency=level,
            sign_deadline=deadlines.sign,
            handle_deadline=deadlines.handle,
            meta=meta_from(event, self.actor),
        )
        processing.collect_events(case)

    # -- commands (get -> change -> save) ------------------------------------------------

    def get_case(self, case_id: uuid.UUID) -> Case:
        try:
            case: Case = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise NotFoundError("case", case_id) from None
        return case

    def sign_for(self, case_id: uuid.UUID, department: str, actor: Actor) -> Case:
        case = self.get_case(case_id)
        case.sign_for(department, command_meta(actor, case_id))
        self.save(case)
        return case

    def handle(self, case_id: uuid.UUID, department: str, result: str, evidence: list[str],
               actor: Actor) -> Case:
        case = self.get_case(case_id)
        case.handle(department, result, evidence, now(), command_meta(actor, case_id))
        self.save(case)
        return case

    def verify(self, case_id: uuid.UUID, passed: bool, method: str, remark: str,
               satisfaction: int | None, actor: Actor) -> Case:
        case = self.get_case(case_id)
        reopen_deadline = self.routing.handle_deadline(
            self.routing.route(case.category), now(), case.urgency == "urgent"
        )
        case.verify(passed, method, remark, satisfaction, reopen_deadline,
                    command_meta(actor, case_id))
        self.save(case)
        return case

    def close_case(self, case_id: uuid.UUID, actor: Actor) -> Case:
        case = self.get_case(case_id)
        case.close(command_meta(actor, case_id))
        self.save(case)
        return case

    def evaluate(self, case_id: uuid.UUID, satisfaction: int, comment: str, actor: Actor) -> Case:
        case = self.get_case(case_id)
        case.evaluate(satisfaction, comment, command_meta(actor, case_id))
        self.save(case)
        return case


def now() -> datetime:
    return datetime.now(UTC)
