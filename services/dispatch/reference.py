"""Reference data of dispatch, event-sourced with full history: the responsibility list
(权责清单) and the year arrangements of the holiday calendar (节假日安排).

Each is one aggregate with a fixed id. Every edit is an event naming who made it, so the
history (GET .../versions) is the aggregate's own past.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.dispatch.routing import Rule
from shared.runtime.store import DomainError
from shared.workcalendar import YearArrangement

Meta = dict[str, Any]
NAMESPACE = uuid.UUID("a1f0c5e2-7d3b-4c8a-9e61-0b5d2f4c7a93")
LIST_ID = uuid.uuid5(NAMESPACE, "dispatch:responsibility-list")
CALENDAR_ID = uuid.uuid5(NAMESPACE, "dispatch:holiday-calendar")


class ResponsibilityList(Aggregate):
    """Every version of the list; version n is the n-th published list."""

    @event("Created")
    def __init__(self, id: uuid.UUID, rules: list[dict[str, Any]], note: str, at: datetime,
                 meta: Meta) -> None:
        self.versions: list[dict[str, Any]] = []
        self._add(rules, note, at, meta)

    def revise(self, rules: list[Rule], note: str, based_on: int | None, at: datetime,
               meta: Meta) -> None:
        if based_on is not None and based_on != self.current_version:
            raise DomainError("list_changed_meanwhile",
                              f"the list is at version {self.current_version}, "
                              f"the edit was based on {based_on}")
        self._revised(rules=[r.model_dump(mode="json") for r in rules], note=note, at=at,
                      meta=meta)

    @property
    def current_version(self) -> int:
        return len(self.versions)

    def rules_at(self, moment: datetime | None = None) -> tuple[int, list[Rule]]:
        """The version current at `moment` (the latest when None); a moment before the
        first version gets version 1, so early cases still route deterministically."""
        chosen = self.versions[0]
        for v in self.versions:
            if moment is None or v["published_at"] <= moment:
                chosen = v
        return chosen["version"], [Rule.model_validate(r) for r in chosen["rules"]]

    @event("Revised")
    def _revised(self, rules: list[dict[str, Any]], note: str, at: datetime,
                 meta: Meta) -> None:
        self._add(rules, note, at, meta)

    def _add(self, rules: list[dict[str, Any]], note: str, at: datetime, meta: Meta) -> None:
        self.versions.append({"version": len(self.versions) + 1, "rules": rules, "note": note,
                              "published_at": at, "actor": meta["actor"]})


class HolidayCalendar(Aggregate):
    """Year arrangements loaded by administrators; a later load for a year replaces it."""

    @event("Started")
    def __init__(self, id: uuid.UUID, meta: Meta) -> None:
        self.history: list[dict[str, Any]] = []

    def load(self, arrangement: YearArrangement, at: datetime, meta: Meta) -> None:
        self._loaded(year=arrangement.year, arrangement=arrangement.model_dump(mode="json"),
                     at=at, meta=meta)

    @property
    def arrangements(self) -> dict[int, YearArrangement]:
        current: dict[int, YearArrangement] = {}
        for h in self.history:
            current[h["year"]] = YearArrangement.model_validate(h["arrangement"])
        return current

    @event("ArrangementLoaded")
    def _loaded(self, year: int, arrangement: dict[str, Any], at: datetime, meta: Meta) -> None:
        self.history.append({"year": year, "arrangement": arrangement, "loaded_at": at,
                             "actor": meta["actor"], "revision": len(self.history) + 1})
