"""The dispatch application: a policy for registered cases, commands for departments,
dispatchers and administrators (get -> change -> save)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, time
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from pydantic import Field

from services.dispatch.domain import Case
from services.dispatch.reference import (
    CALENDAR_ID,
    LIST_ID,
    HolidayCalendar,
    ResponsibilityList,
)
from services.dispatch.routing import (
    RoutingTable,
    Rule,
    arbitration_place,
    handling_place,
    problems,
    urgency,
)
from services.dispatch.seed import SEED_RULES
from shared.catalogue import departments
from shared.events import Actor, IntegrationEvent
from shared.events.dedup import CaseRegistered
from shared.places.codes import join_path, path_within
from shared.runtime.clock import Clock, SystemClock
from shared.runtime.meta import command_meta, meta_from, system_actor
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import DomainError, Handler, Inbound, NotFoundError, ServiceApplication
from shared.workcalendar import DEFAULT_OFFICE_HOURS, OfficePeriod, WorkCalendar, YearArrangement

A = TypeVar("A", bound=Aggregate)


class DispatchSettings(ServiceSettings):
    # GOV_OFFICE_HOURS, Asia/Shanghai wall clock, e.g. "08:30-12:00,14:00-17:30".
    office_hours: str = Field(default="08:30-12:00,14:00-17:30")


class ListInvalid(Exception):
    """A responsibility list that fails validation (HTTP 422 with every problem)."""

    def __init__(self, found: list[str]) -> None:
        super().__init__("; ".join(found))
        self.problems = found


def parse_office_hours(text: str) -> tuple[OfficePeriod, ...]:
    periods = []
    for part in text.split(","):
        start, end = part.strip().split("-")
        periods.append((time.fromisoformat(start), time.fromisoformat(end)))
    return tuple(periods) or DEFAULT_OFFICE_HOURS


class DispatchApplication(ServiceApplication):
    name = "dispatch"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        super().__init__(settings)
        hours = getattr(settings, "office_hours", None)
        self.calendar = WorkCalendar(parse_office_hours(hours) if hours else DEFAULT_OFFICE_HOURS)
        self.clock: Clock = clock or SystemClock()
        self.actor = system_actor("dispatch")
        self._lock = threading.Lock()
        self._list: ResponsibilityList | None = None
        self._holidays: HolidayCalendar | None = None
        self._tables: dict[int, RoutingTable] = {}
        self._seed()

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        return {CaseRegistered: self.on_registered}

    # -- reference data: seeded once, followed by fast-forwarding cached aggregates -------

    def _seed(self) -> None:
        """Version 1 of the list and an empty holiday calendar, when absent."""
        found = problems(list(SEED_RULES))
        if found:
            raise ListInvalid(found)  # a broken seed must stop the service at start
        meta = {"actor": self.actor.model_dump(), "correlation_id": str(LIST_ID),
                "causation_id": None}
        if LIST_ID not in self.repository:
            self._save_first(ResponsibilityList(
                id=LIST_ID, rules=[r.model_dump(mode="json") for r in SEED_RULES],
                note="莆阳市权责清单（初版）", at=self.clock.now(), meta=meta))
        if CALENDAR_ID not in self.repository:
            self._save_first(HolidayCalendar(id=CALENDAR_ID, meta=meta))

    def _save_first(self, aggregate: Aggregate) -> None:
        with contextlib.suppress(IntegrityError):  # another instance seeded it first
            self.save(aggregate)

    def _fresh(self, cached: A | None, agg_id: uuid.UUID) -> A:
        if cached is None:
            agg: A = self.repository.get(agg_id)
            return agg
        for e in self.repository.event_store.get(agg_id, gt=cached.version):
            cached = e.mutate(cached)  # type: ignore[attr-defined]
        assert cached is not None
        return cached

    def responsibility_list(self) -> ResponsibilityList:
        with self._lock:
            self._list = self._fresh(self._list, LIST_ID)
            return self._list

    def holiday_calendar(self) -> HolidayCalendar:
        with self._lock:
            before = self._holidays.version if self._holidays else 0
            self._holidays = self._fresh(self._holidays, CALENDAR_ID)
            for h in self._holidays.history[max(before - 1, 0):]:
                self.calendar.load(YearArrangement.model_validate(h["arrangement"]))
            return self._holidays

    def table(self, moment: datetime | None = None, refresh: bool = True
              ) -> tuple[int, RoutingTable]:
        """The list version current at `moment`, on the calendar as loaded now.
        `refresh=False` uses the reference data as last fast-forwarded (within a batch)."""
        if refresh or self._list is None:
            self.holiday_calendar()
            self.responsibility_list()
        assert self._list is not None
        version, rules = self._list.rules_at(moment)
        table = self._tables.get(version)
        if table is None:
            table = self._tables[version] = RoutingTable(rules, self.calendar)
        return version, table

    # -- policy -----------------------------------------------------------------------

    def record_poll(self, batches: Sequence[Sequence[Inbound]]) -> None:
        """Reference data is fast-forwarded once per poll, not once per message: a list
        change recorded meanwhile applies from the next poll on."""
        self.table()
        super().record_poll(batches)

    def on_registered(self, event: CaseRegistered, processing: ProcessingEvent[uuid.UUID]) -> None:
        if self.exists(event.case_id, processing):
            return  # a republished registration
        version, table = self.table(event.occurred_at, refresh=False)
        rule = table.route(event.category, event.area_path)
        if event.assigned_department in departments():
            # The channel already knows the owner (an imported request): keep it, with
            # the category's time limits.
            rule = rule.model_copy(update={"department": event.assigned_department})
        level, reasons = urgency(rule, event.channel.value, f"{event.title} {event.description}")
        start = event.occurred_at
        d = table.deadlines(rule, start, level == "urgent")
        case = Case(
            id=event.case_id, category=event.category, area_path=list(event.area_path),
            channel=event.channel.value, department=rule.department, level=rule.level,
            handling_place=handling_place(event.area_path, rule.level), list_version=version,
            rule=rule.model_dump(mode="json"), urgency=level, urgency_reasons=reasons,
            sign_deadline=d.sign, handle_deadline=d.handle, return_deadline=d.ret,
            warnings=self.calendar.warnings(start, d.sign, d.handle, d.ret),
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

    def change(self, case_id: uuid.UUID, actor: Actor, step: Callable[[Case, Any], None]
               ) -> Case:
        case = self.get_case(case_id)
        step(case, command_meta(actor, case_id))
        self.save(case)
        return case

    def now(self) -> datetime:
        return self.clock.now()

    def sign_for(self, case_id: uuid.UUID, department: str, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.sign_for(department, m))

    def return_case(self, case_id: uuid.UUID, department: str, reason: str,
                    actor: Actor) -> Case:
        return self.change(case_id, actor,
                           lambda c, m: c.return_case(department, reason, self.now(), m))

    def redispatch(self, case_id: uuid.UUID, department: str, level: str | None, remark: str,
                   actor: Actor) -> Case:
        def step(c: Case, m: Any) -> None:
            lvl = level or c.level
            deadlines, warnings = self._assignment(c)
            c.redispatch(department, lvl, handling_place(c.area_path, lvl), remark, deadlines,
                         warnings, m)
        return self.change(case_id, actor, step)

    def arbitrate(self, case_id: uuid.UUID, department: str, level: str | None, decision: str,
                  actor: Actor, arbiter_area: str) -> Case:
        def step(c: Case, m: Any) -> None:
            place = arbitration_place(c.area_path, c.level)
            above = join_path(c.area_path[:c.area_path.index(place) + 1])
            if not path_within(above, arbiter_area):
                raise DomainError("arbitration_by_level_above",
                                  f"arbitration belongs to {place} or a level above it")
            lvl = level or c.level
            deadlines, warnings = self._assignment(c)
            c.arbitrate(department, lvl, handling_place(c.area_path, lvl), decision, deadlines,
                        warnings, m)
        return self.change(case_id, actor, step)

    def _assignment(self, c: Case) -> tuple[tuple[datetime, datetime, datetime], list[str]]:
        """Fresh deadlines for a new assignment, on the case's own rule and today's calendar."""
        _, table = self.table()
        start = self.now()
        d = table.deadlines(Rule.model_validate(c.rule), start, c.urgency == "urgent")
        return (d.sign, d.handle, d.ret), self.calendar.warnings(start, d.sign, d.handle, d.ret)

    def request_extension(self, case_id: uuid.UUID, department: str, days: int, reason: str,
                          actor: Actor) -> Case:
        def step(c: Case, m: Any) -> None:
            self.holiday_calendar()
            requested = self.calendar.add_working_days(c.handle_deadline, days)
            c.request_extension(department, reason, requested, self.now(), m)
        return self.change(case_id, actor, step)

    def decide_extension(self, case_id: uuid.UUID, approved: bool, remark: str,
                         actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.decide_extension(approved, remark, m))

    def change_urgency(self, case_id: uuid.UUID, level: str, reason: str, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.change_urgency(level, reason, m))

    def request_co_handling(self, case_id: uuid.UUID, departments: list[str], task: str,
                            actor: Actor, by_department: str | None) -> Case:
        def step(c: Case, m: Any) -> None:
            if by_department is not None and by_department != c.department:
                raise DomainError("not_assigned_department",
                                  f"only the lead {c.department} asks for co-handling")
            c.request_co_handling(departments, task, m)
        return self.change(case_id, actor, step)

    def report_part(self, case_id: uuid.UUID, department: str, part: str, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.report_part(department, part, m))

    def open_consultation(self, case_id: uuid.UUID, subject: str, participants: list[str],
                          actor: Actor) -> Case:
        return self.change(case_id, actor,
                           lambda c, m: c.open_consultation(subject, participants, m))

    def conclude_consultation(self, case_id: uuid.UUID, number: int, conclusion: str,
                              decisions: list[str], actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.conclude_consultation(
            number, conclusion, decisions, m))

    def whistle(self, case_id: uuid.UUID, place: str, departments: list[str], reason: str,
                limit_hours: float, actor: Actor) -> Case:
        def step(c: Case, m: Any) -> None:
            self.holiday_calendar()
            deadline = self.calendar.add_working_hours(self.now(), limit_hours)
            c.whistle(place, departments, reason, deadline, m)
        return self.change(case_id, actor, step)

    def report_in(self, case_id: uuid.UUID, department: str, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.report_in(department, self.now(), m))

    def close_whistle(self, case_id: uuid.UUID, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.close_whistle(m))

    def handle(self, case_id: uuid.UUID, department: str, result: str, evidence: list[str],
               actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.handle(
            department, result, evidence, self.now(), m))

    def verify(self, case_id: uuid.UUID, passed: bool, method: str, remark: str,
               satisfaction: int | None, actor: Actor) -> Case:
        def step(c: Case, m: Any) -> None:
            _, table = self.table()
            reopen = table.handle_deadline(Rule.model_validate(c.rule), self.now(),
                                           c.urgency == "urgent")
            c.verify(passed, method, remark, satisfaction, reopen, m)
        return self.change(case_id, actor, step)

    def close_case(self, case_id: uuid.UUID, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.close(m))

    def evaluate(self, case_id: uuid.UUID, satisfaction: int, comment: str, actor: Actor) -> Case:
        return self.change(case_id, actor, lambda c, m: c.evaluate(satisfaction, comment, m))

    # -- reference data commands ------------------------------------------------------------

    def revise_list(self, rules: list[Rule], note: str, based_on: int | None,
                    actor: Actor) -> ResponsibilityList:
        found = problems(rules)
        if found:
            raise ListInvalid(found)
        lst: ResponsibilityList = self.repository.get(LIST_ID)
        lst.revise(rules, note, based_on, self.now(), command_meta(actor, LIST_ID))
        self.save(lst)
        return self.responsibility_list()

    def load_arrangement(self, arrangement: YearArrangement, actor: Actor) -> HolidayCalendar:
        cal: HolidayCalendar = self.repository.get(CALENDAR_ID)
        cal.load(arrangement, self.now(), command_meta(actor, CALENDAR_ID))
        self.save(cal)
        return self.holiday_calendar()
