"""The responsibility list (权责清单), first cut: category -> department and time limits.

Time limits follow the practice of local catalogues: signing within working hours,
handling within working hours for small matters and working days for larger ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.catalogue import categories
from shared.workcalendar import WorkCalendar

URGENT_WORDS = ("火", "燃气", "煤气", "爆炸", "打架", "斗殴", "持刀", "聚集", "围堵", "坠落",
                "fire", "gas leak", "explosion", "fight", "knife", "crowd")


@dataclass(frozen=True)
class Route:
    department: str
    sign_hours: float  # working hours to sign for
    handle_hours: float | None = None  # working hours to handle, or
    handle_days: int | None = None  # working days to handle


@dataclass(frozen=True)
class Deadlines:
    sign: datetime
    handle: datetime


ROUTES: dict[str, Route] = {
    "dispute": Route("justice", 4, handle_days=10),
    "dispute.labour": Route("hrss", 4, handle_days=10),
    "dispute.property": Route("housing", 4, handle_days=5),
    "urban": Route("urban_mgmt", 2, handle_days=3),
    "urban.garbage": Route("urban_mgmt", 1, handle_hours=4),
    "urban.illegal_building": Route("urban_mgmt", 2, handle_days=20),
    "urban.road_damage": Route("housing", 2, handle_days=5),
    "safety": Route("emergency", 1, handle_days=2),
    "safety.building": Route("housing", 1, handle_days=2),
    "food": Route("market_reg", 2, handle_days=5),
    "environment": Route("ecology", 2, handle_days=5),
    "environment.noise": Route("police", 1, handle_days=2),
    "order": Route("police", 1, handle_hours=8),
    "market": Route("market_reg", 2, handle_days=7),
    "livelihood": Route("civil_affairs", 4, handle_days=5),
    "livelihood.water_supply": Route("water", 1, handle_hours=8),
    "fire": Route("fire_rescue", 1, handle_days=1),
    "petition": Route("petition_office", 4, handle_days=15),
}
FALLBACK = Route("street_office", 4, handle_days=5)  # the town/street takes what no one owns


class RoutingTable:
    def __init__(self, routes: dict[str, Route] | None = None,
                 calendar: WorkCalendar | None = None) -> None:
        self.routes = routes if routes is not None else ROUTES
        self.calendar = calendar or WorkCalendar()

    def route(self, category: str) -> Route:
        """The most specific rule wins: `topic.sub`, then `topic`, then the town."""
        topic = category.split(".", 1)[0]
        return self.routes.get(category) or self.routes.get(topic) or FALLBACK

    def deadlines(self, route: Route, start: datetime, urgent: bool) -> Deadlines:
        sign = self.calendar.add_working_hours(start, route.sign_hours / (4 if urgent else 1))
        return Deadlines(sign=sign, handle=self.handle_deadline(route, start, urgent))

    def handle_deadline(self, route: Route, start: datetime, urgent: bool = False) -> datetime:
        if route.handle_days is not None and not urgent:
            return self.calendar.add_working_days(start, route.handle_days)
        hours = route.handle_hours if route.handle_hours is not None else 8.0
        return self.calendar.add_working_hours(start, hours / (2 if urgent else 1))


def urgency(category: str, text: str) -> str:
    """轻重缓急: fire and safety topics and alarming words jump the queue."""
    lowered = text.lower()
    if category.split(".", 1)[0] == "fire" or any(w in lowered for w in URGENT_WORDS):
        return "urgent"
    return "normal"


def known_category(category: str) -> bool:
    return category in categories()
