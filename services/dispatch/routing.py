"""The responsibility list (权责清单) as data: rules, validation, routing and deadlines.

A rule says who handles a category: `category` is a sub-category (`topic.sub`) or a whole
topic (`topic`); `area` narrows it to a district or town where practice differs (an area
override). The most specific rule wins: the deepest matching area, then the sub-category
over the topic. `level` is the handling level (the department at that level of the case's
area path handles it); the level above it arbitrates after repeated returns.

Time limits follow local catalogues (GB/T 30428 practice): signing within working hours,
handling within working hours for small matters or working days for larger ones, returning
a misrouted order within working hours (12345 practice: about 2 working days).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.catalogue import TOPICS, categories, departments
from shared.places.codes import level_of_code
from shared.places.model import Level
from shared.workcalendar import WorkCalendar

HandlingLevel = Literal["city", "district", "town", "village"]
UrgencyClass = Literal["urgent", "normal"]
URGENT_DIVISOR_SIGN = 4  # an urgent case is signed for in a quarter of the time
URGENT_DIVISOR_HANDLE = 2  # and handled in half (working hours)


class Rule(BaseModel):
    """One line of the responsibility list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str = Field(min_length=1, max_length=64, description="`topic.sub` or `topic`")
    area: str | None = Field(default=None, description="district or town code (override)")
    department: str = Field(min_length=1, max_length=64)
    level: HandlingLevel = "district"
    sign_hours: float = Field(gt=0, le=200, description="working hours to sign for")
    handle_hours: float | None = Field(default=None, gt=0, le=400)
    handle_days: int | None = Field(default=None, ge=1, le=120)
    return_hours: float = Field(default=14, gt=0, le=200, description="working hours to 退单")
    urgency: UrgencyClass = "normal"
    note: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one_handling_limit(self) -> Rule:
        if (self.handle_hours is None) == (self.handle_days is None):
            raise ValueError("give exactly one of handle_hours and handle_days")
        return self

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.category, self.area)


def problems(rules: list[Rule]) -> list[str]:
    """Everything wrong with a list, readable, all at once (empty when valid)."""
    found: list[str] = []
    cats, depts = categories(), departments()
    for i, r in enumerate(rules):
        where = f"rule {i + 1} ({r.category}{' @ ' + r.area if r.area else ''})"
        if r.category not in cats and r.category not in TOPICS:
            found.append(f"{where}: unknown category {r.category!r}")
        if r.department not in depts:
            found.append(f"{where}: unknown department {r.department!r}")
        if r.area is not None and level_of_code(r.area) not in (Level.DISTRICT, Level.TOWN):
            found.append(f"{where}: area must be a district or town code")
        if r.area is not None and r.level in ("city", "district") \
                and level_of_code(r.area) is Level.TOWN:
            found.append(f"{where}: a town override cannot hand the case above the town")
    for key, n in Counter(r.key for r in rules).items():
        if n > 1:
            area = f" in area {key[1]}" if key[1] else " city-wide"
            found.append(f"ambiguous: {n} rules for {key[0]}{area}")
    owned = {r.category for r in rules if r.area is None}
    for code, cat in cats.items():
        if code not in owned and cat.topic not in owned:
            found.append(f"no city-wide owner for {code} ({cat.name_zh})")
    return found


@dataclass(frozen=True)
class Deadlines:
    sign: datetime
    handle: datetime
    ret: datetime  # the return (退单) limit


class RoutingTable:
    """Routes with one version of the list; computes deadlines on the work calendar."""

    def __init__(self, rules: list[Rule], calendar: WorkCalendar | None = None) -> None:
        self.rules = {r.key: r for r in rules}
        self.calendar = calendar or WorkCalendar()

    def route(self, category: str, area_path: list[str] | tuple[str, ...]) -> Rule:
        """Deepest area override first, then city-wide; sub-category before topic."""
        topic = category.split(".", 1)[0]
        for area in [*reversed(area_path), None]:
            for cat in (category, topic):
                rule = self.rules.get((cat, area))
                if rule is not None:
                    return rule
        raise LookupError(f"no rule for {category}")  # a validated list owns every category

    def deadlines(self, rule: Rule, start: datetime, urgent: bool) -> Deadlines:
        divisor = URGENT_DIVISOR_SIGN if urgent else 1
        return Deadlines(sign=self.calendar.add_working_hours(start, rule.sign_hours / divisor),
                         handle=self.handle_deadline(rule, start, urgent),
                         ret=self.calendar.add_working_hours(start, rule.return_hours))

    def handle_deadline(self, rule: Rule, start: datetime, urgent: bool = False) -> datetime:
        if rule.handle_days is not None and not urgent:
            return self.calendar.add_working_days(start, rule.handle_days)
        hours = rule.handle_hours if rule.handle_hours is not None else 7.0 * (rule.handle_days
                                                                                 or 1)
        return self.calendar.add_working_hours(start, hours / URGENT_DIVISOR_HANDLE
                                               if urgent else hours)


def handling_place(area_path: list[str] | tuple[str, ...], level: str) -> str:
    """The place whose department handles the case: the case's ancestor at `level`."""
    depth = Level(level).depth
    return area_path[min(depth, len(area_path) - 1)]


def arbitration_place(area_path: list[str] | tuple[str, ...], level: str) -> str:
    """The level above the handling level (the city arbitrates its own cases)."""
    depth = min(Level(level).depth, len(area_path) - 1)
    return area_path[max(depth - 1, 0)]


# -- urgency (轻重缓急) -------------------------------------------------------------------

URGENT_WORDS: dict[str, tuple[str, ...]] = {
    "fire": ("着火", "起火", "失火", "火灾", "冒烟", "明火", "fire", "smoke"),
    "gas": ("燃气", "煤气", "液化气", "天然气", "爆炸", "gas leak", "explosion"),
    "violence": ("打架", "斗殴", "持刀", "砍人", "殴打", "家暴", "fight", "knife", "violence"),
    "crowd": ("聚集", "围堵", "堵路", "群体", "踩踏", "crowd", "stampede"),
}
# Police non-emergency incidents come from officers who judged the matter time-sensitive.
URGENT_CHANNELS = frozenset({"police"})


def urgency(rule: Rule, channel: str, text: str) -> tuple[UrgencyClass, list[str]]:
    """The urgency class and why: the category's class, the channel, alarming words."""
    reasons: list[str] = []
    if rule.urgency == "urgent":
        reasons.append(f"category:{rule.category}")
    if channel in URGENT_CHANNELS:
        reasons.append(f"channel:{channel}")
    lowered = text.lower()
    reasons += [f"content:{kind}" for kind, words in URGENT_WORDS.items()
                if any(w in lowered for w in words)]
    return ("urgent" if reasons else "normal"), reasons
