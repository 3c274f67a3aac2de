"""What a case row contributes to the pre-aggregated tables, and how a change moves them.

A case counts at its own place and at every ancestor (the area path's prefixes), so a
town's figures are one row read, never a scan of its villages. When a case row changes,
the tables move by (facts of the new row) - (facts of the old row): the same function
serves the live projection and a rebuild, so both end in the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

# Days and weeks are counted on the city's clock, whatever the server's zone.
CITY_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
DONE = frozenset({"closed", "evaluated"})

CountKey = tuple[str, str, str]  # (area, dim, key)
DayKey = tuple[str, str, str]  # (area, day, category)


@lru_cache(maxsize=1 << 16)  # a city has some thousands of places; a rebuild asks millions of times
def nodes(area_path: str | None) -> tuple[str, ...]:
    """'a/b/c' -> ('a', 'a/b', 'a/b/c'): every node the case counts at."""
    if not area_path:
        return ()
    parts = area_path.split("/")
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


def depth(area: str) -> int:
    return area.count("/") + 1


def day_of(moment: datetime | None) -> str | None:
    return moment.astimezone(CITY_TZ).date().isoformat() if moment is not None else None


def is_open(row: dict[str, Any]) -> bool:
    return row.get("status") not in DONE


def case_facts(row: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(dim, key) -> amount this one case adds to its places' counts."""
    status = str(row.get("status") or "reported")
    open_ = is_open(row)
    facts: dict[tuple[str, str], int] = {
        ("total", ""): 1,
        ("status", status): 1,
        ("category", row.get("category") or "unknown"): 1,
        ("channel", row.get("channel") or "unknown"): 1,
    }
    if row.get("urgency"):
        facts[("urgency", row["urgency"])] = 1
    flags = {"open": open_, "overdue": open_ and bool(row.get("overdue")),
             "warned": open_ and bool(row.get("warned")), "escalated": bool(row.get("escalated")),
             "closed": not open_, "on_time": not open_ and bool(row.get("on_time"))}
    facts.update({(name, ""): 1 for name, on in flags.items() if on})
    satisfaction = row.get("satisfaction")
    if satisfaction:
        facts[("sat_sum", "")] = int(satisfaction)
        facts[("sat_n", "")] = 1
    dept = row.get("department")
    if dept:
        facts[("dept_total", dept)] = 1
        for name in ("open", "overdue", "closed", "on_time"):
            if flags[name]:
                facts[(f"dept_{name}", dept)] = 1
        if satisfaction:
            facts[("dept_sat_sum", dept)] = int(satisfaction)
            facts[("dept_sat_n", dept)] = 1
    return facts


def day_facts(row: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
    """(day, category) -> (reported, closed) this case adds."""
    category = row.get("category") or "unknown"
    out: dict[tuple[str, str], tuple[int, int]] = {}
    reported = day_of(row.get("reported_at"))
    if reported:
        out[(reported, category)] = (1, 0)
    closed = day_of(row.get("closed_at")) if not is_open(row) else None
    if closed:
        r, _ = out.get((closed, category), (0, 0))
        out[(closed, category)] = (r, 1)
    return out


class Deltas:
    """Accumulated changes of one batch (or of a whole rebuild), written in one statement
    per table. Kept by the case's own place and spread to its ancestors only when read:
    a case's change costs one entry per fact, not one per fact and level."""

    def __init__(self) -> None:
        self.at_place: dict[CountKey, int] = defaultdict(int)  # (area path, dim, key)
        self.days_at_place: dict[DayKey, list[int]] = defaultdict(lambda: [0, 0])

    @property
    def counts(self) -> dict[CountKey, int]:
        """(area, dim, key) -> change, at every node."""
        out: dict[CountKey, int] = defaultdict(int)
        for (path, dim, key), n in self.at_place.items():
            if n:
                for area in nodes(path):
                    out[(area, dim, key)] += n
        return out

    @property
    def daily(self) -> dict[DayKey, list[int]]:
        out: dict[DayKey, list[int]] = defaultdict(lambda: [0, 0])
        for (path, day, category), (r, x) in self.days_at_place.items():
            if r or x:
                for area in nodes(path):
                    cell = out[(area, day, category)]
                    cell[0] += r
                    cell[1] += x
        return out

    def change(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self._counts(old, -1)
        self._counts(new, +1)
        self._days(old, -1)
        self._days(new, +1)

    def _counts(self, row: dict[str, Any] | None, sign: int) -> None:
        if row is None:
            return
        path = row.get("area_path") or ""
        for (dim, key), amount in case_facts(row).items():
            self.at_place[(path, dim, key)] += sign * amount

    def _days(self, row: dict[str, Any] | None, sign: int) -> None:
        if row is None:
            return
        path = row.get("area_path") or ""
        for (day, category), (reported, closed) in day_facts(row).items():
            cell = self.days_at_place[(path, day, category)]
            cell[0] += sign * reported
            cell[1] += sign * closed

    def count_rows(self) -> list[dict[str, Any]]:
        return [{"area": a, "dim": d, "key": k, "depth": depth(a), "n": n}
                for (a, d, k), n in self.counts.items() if n]

    def daily_rows(self) -> list[dict[str, Any]]:
        return [{"area": a, "day": day, "category": c, "depth": depth(a),
                 "reported": r, "closed": x}
                for (a, day, c), (r, x) in self.daily.items() if r or x]


def totals(rows: Iterable[dict[str, Any]]) -> Deltas:
    """The tables as they must be for these case rows: for checks and rebuild comparisons."""
    d = Deltas()
    for row in rows:
        d.change(None, row)
    return d
