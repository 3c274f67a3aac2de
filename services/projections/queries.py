"""Read-model queries for one node of the hierarchy and everything below it.

Counts come from the pre-aggregated tables (one row per node, dim and key); only the case
list reads case rows. A subtree is a key range on the area path ('a/b/' <= p < 'a/b0',
'0' being the character after '/'), which every database serves from an index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.engine import Connection

from services.projections import tables as t
from services.projections.aggregates import CITY_TZ, DONE, depth

DIMS = ("status", "category", "channel", "urgency")
DEPT_METRICS = ("total", "open", "overdue", "closed", "on_time", "sat_sum", "sat_n")
FLAGS = ("total", "open", "overdue", "warned", "escalated", "closed", "on_time")


def set_scope(c: Connection, area: str | None) -> None:
    """Tell PostgreSQL's row-level security whose rows this transaction may read (the
    caller's area; docs/architecture.md, authorisation). None sets nothing: on a secured
    read model the reader then sees no row at all. SQLite has no such wall."""
    if area is not None and c.dialect.name == "postgresql":
        c.execute(select(func.set_config("gov.scope", area, True)))


def below(column: Any, area: str) -> ColumnElement[bool]:
    """Strictly below `area` (its descendants), as an index range."""
    return and_(column > area + "/", column < area + "0")


def within(column: Any, area: str) -> ColumnElement[bool]:
    return or_(column == area, below(column, area))


@dataclass(frozen=True)
class CaseFilter:
    area: str
    status: str | None = None
    department: str | None = None
    category: str | None = None
    channel: str | None = None
    urgency: str | None = None
    overdue: bool | None = None
    open: bool | None = None
    reported_from: date | None = None
    reported_until: date | None = None
    merged: bool | None = None  # other reports merged into the case (合并来件)

    def where(self) -> list[ColumnElement[bool]]:
        c = t.cases.c
        out = [within(c.area_path, self.area)]
        for name in ("status", "department", "category", "channel", "urgency"):
            value = getattr(self, name)
            if value:
                out.append(c[name] == value)
        if self.overdue is not None:
            out.append(c.overdue.is_(self.overdue))
        if self.open is not None:
            out.append(c.status.not_in(DONE) if self.open else c.status.in_(DONE))
        if self.merged is not None:
            out.append(c.report_count > 1 if self.merged else c.report_count <= 1)
        if self.reported_from:
            out.append(c.reported_at >= _start(self.reported_from))
        if self.reported_until:
            out.append(c.reported_at < _start(self.reported_until + timedelta(days=1)))
        return out


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), CITY_TZ)


def list_cases(c: Connection, f: CaseFilter, limit: int, offset: int,
               order: str = "updated") -> tuple[int, list[dict[str, Any]]]:
    conditions = f.where()
    total = c.execute(select(func.count()).select_from(t.cases).where(*conditions)).scalar_one()
    sort = {"updated": t.cases.c.updated_at.desc(),
            "deadline": t.cases.c.handle_deadline.asc()}[order]
    rows = c.execute(select(t.cases).where(*conditions).order_by(sort, t.cases.c.case_id)
                     .limit(limit).offset(offset)).mappings()
    return int(total), [dict(r) for r in rows]


def node_counts(c: Connection, area: str) -> dict[str, dict[str, int]]:
    """dim -> key -> n at one node: every figure of a dashboard in one indexed read."""
    out: dict[str, dict[str, int]] = {}
    for dim, key, n in c.execute(select(t.counts.c.dim, t.counts.c.key, t.counts.c.n)
                                 .where(t.counts.c.area == area, t.counts.c.n != 0)):
        out.setdefault(dim, {})[key] = int(n)
    return out


def summary(c: Connection, area: str) -> dict[str, Any]:
    counts = node_counts(c, area)
    flags = {name: counts.get(name, {}).get("", 0) for name in FLAGS}
    sat_n = counts.get("sat_n", {}).get("", 0)
    flags_out: dict[str, Any] = dict(flags)
    flags_out["satisfaction"] = (round(counts["sat_sum"][""] / sat_n, 2) if sat_n else None)
    return {"area": area, "totals": flags_out,
            **{f"by_{dim}": _ranked(counts.get(dim, {})) for dim in DIMS},
            "departments": departments(counts),
            "children": level_counts(c, area, depth(area) + 1)}


def _ranked(values: dict[str, int]) -> dict[str, int]:
    return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))


def departments(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The department scoreboard: workload and the standard rates (结案率, 按期结案率, 满意率)."""
    names = set(counts.get("dept_total", {}))
    board: list[dict[str, Any]] = []
    for dept in sorted(names):
        m = {k: counts.get(f"dept_{k}", {}).get(dept, 0) for k in DEPT_METRICS}
        board.append({
            "department": dept, **{k: m[k] for k in ("total", "open", "overdue", "closed",
                                                     "on_time")},
            "closure_rate": _rate(m["closed"], m["total"]),
            "on_time_rate": _rate(m["on_time"], m["closed"]),
            "satisfaction": round(m["sat_sum"] / m["sat_n"], 2) if m["sat_n"] else None,
        })
    board.sort(key=lambda d: (-d["total"], d["department"]))
    return board


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def level_counts(c: Connection, area: str, level_depth: int) -> list[dict[str, Any]]:
    """Per node `level_depth` deep inside `area`: total, open and overdue (map, children)."""
    q = (select(t.counts.c.area, t.counts.c.dim, t.counts.c.n)
         .where(t.counts.c.dim.in_(("total", "open", "overdue")), t.counts.c.key == "",
                t.counts.c.depth == level_depth, below(t.counts.c.area, area)))
    nodes: dict[str, dict[str, Any]] = {}
    for node, dim, n in c.execute(q):
        entry = nodes.setdefault(node, {"area": node, "code": node.rsplit("/", 1)[-1],
                                        "total": 0, "open": 0, "overdue": 0})
        entry[dim] = int(n)
    return sorted(nodes.values(), key=lambda e: e["area"])


def trend(c: Connection, area: str, first: date, last: date, period: str,
          category: str | None = None) -> list[dict[str, Any]]:
    """Reported and closed per day or ISO week (Monday) from `first` to `last` inclusive."""
    d = t.daily.c
    q = (select(d.day, func.sum(d.reported), func.sum(d.closed))
         .where(d.area == area, d.day >= first.isoformat(), d.day <= last.isoformat())
         .group_by(d.day))
    if category:
        q = q.where(d.category == category)
    per_day = {day: (int(r), int(x)) for day, r, x in c.execute(q)}
    buckets: dict[str, list[int]] = {}
    day = first
    while day <= last:
        key = (day - timedelta(days=day.weekday()) if period == "week" else day).isoformat()
        cell = buckets.setdefault(key, [0, 0])
        r, x = per_day.get(day.isoformat(), (0, 0))
        cell[0] += r
        cell[1] += x
        day += timedelta(days=1)
    return [{"bucket": k, "reported": v[0], "closed": v[1]} for k, v in buckets.items()]


def naive_summary(c: Connection, area: str) -> dict[str, int]:
    """The same status counts by COUNT(*) over the case rows: the benchmark's baseline."""
    q = (select(t.cases.c.status, func.count()).where(within(t.cases.c.area_path, area))
         .group_by(t.cases.c.status))
    return {s: int(n) for s, n in c.execute(q)}
