"""One partition batch applied to the read model: loaded in bulk, changed in memory,
written with one statement per table (executemany), inside the caller's transaction.

Per-row statements are what makes a projection slow (see ENGINEERING.md §2.5): a batch of
5,000 events costs a handful of round trips here, whatever its size.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from services.projections import tables as t
from services.projections.aggregates import Deltas
from services.projections.apply import apply_event
from shared.events import IntegrationEvent
from shared.events.dedup import ReportMerged, ReportSplit
from shared.runtime.store import Inbound

CHUNK = 900  # bound parameters per IN list (SQLite's old default limit is 999)
CASE_COLUMNS = tuple(c.name for c in t.cases.columns)
DEFAULTS = {"warned": False, "overdue": False, "escalated": False, "report_count": 1,
            "reopen_count": 0, "status": "reported"}


def chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


class Batch:
    def __init__(self, c: Connection, known_event_ids: set[str]) -> None:
        self.c = c
        self.known = known_event_ids
        self.aliases: dict[str, str] = {}  # report case id -> primary case id
        self.new_aliases: list[dict[str, str]] = []
        self.stored: dict[str, dict[str, Any]] = {}  # rows as the database holds them
        self.rows: dict[str, dict[str, Any] | None] = {}  # rows as this batch leaves them
        self.file: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []  # what happened, for live page updates

    # -- loading ----------------------------------------------------------------------

    def preload(self, events: Iterable[IntegrationEvent]) -> None:
        ids = {str(e.case_id) for e in events}
        ids |= {str(e.report_case_id) for e in events if isinstance(e, ReportMerged)}
        for part in chunks(sorted(ids)):
            q = select(t.aliases).where(t.aliases.c.report_case_id.in_(part))
            self.aliases.update({r.report_case_id: r.case_id for r in self.c.execute(q)})
        wanted = sorted(ids | set(self.aliases.values()))
        for part in chunks(wanted):
            for r in self.c.execute(select(t.cases).where(t.cases.c.case_id.in_(part))).mappings():
                self.stored[r["case_id"]] = dict(r)

    def is_new(self, e: IntegrationEvent) -> bool:
        """Republished events (same id) are skipped: the read model applies each once."""
        key = str(e.event_id)
        if key in self.known:
            return False
        self.known.add(key)
        return True

    def row(self, case_id: str) -> dict[str, Any]:
        if case_id not in self.rows:
            stored = self.stored.get(case_id)
            self.rows[case_id] = copy.copy(stored) if stored else {"case_id": case_id, **DEFAULTS}
        row = self.rows[case_id]
        if row is None:  # a merged-away report's id reused: it lives on in its primary
            row = self.rows[case_id] = {"case_id": case_id, **DEFAULTS}
        return row

    # -- applying ---------------------------------------------------------------------

    def apply(self, m: Inbound, e: IntegrationEvent) -> None:
        case_id = self.aliases.get(str(e.case_id), str(e.case_id))
        row = self.row(case_id)
        apply_event(row, e)
        if isinstance(e, ReportMerged):
            self._merge(str(e.report_case_id), case_id)
        elif isinstance(e, ReportSplit):
            self._split(str(e.case_id), case_id)
        self.file.append({
            "event_id": str(e.event_id), "case_id": case_id, "event_type": e.event_type,
            "producer": e.producer, "occurred_at": e.occurred_at, "actor_id": e.actor.id,
            "actor_role": e.actor.role, "actor_name": e.actor.name,
            "origin": f"{m.topic}:{m.partition}:{m.offset}",
            "payload": e.model_dump_json(exclude={"actor"})})
        self.changes.append({"case_id": case_id, "event_type": e.event_type,
                             "status": row.get("status"), "area_path": row.get("area_path"),
                             "department": row.get("department")})

    def _merge(self, report_case_id: str, case_id: str) -> None:
        """A merged report's own events join the primary case's file; its row goes."""
        if report_case_id == case_id or report_case_id in self.aliases:
            return
        self.aliases[report_case_id] = case_id
        self.new_aliases.append({"report_case_id": report_case_id, "case_id": case_id})
        self.c.execute(t.case_events.update().where(t.case_events.c.case_id == report_case_id)
                       .values(case_id=case_id))
        for entry in self.file:
            if entry["case_id"] == report_case_id:
                entry["case_id"] = case_id
        self.rows[report_case_id] = None

    def _split(self, report_case_id: str, case_id: str) -> None:
        """A report split back out of a case: its own events (their payload names it) leave
        the case's file; its row comes back with the case.registered that follows."""
        if self.aliases.get(report_case_id) != case_id:
            return
        del self.aliases[report_case_id]
        self.new_aliases = [a for a in self.new_aliases
                            if a["report_case_id"] != report_case_id]
        self.c.execute(t.aliases.delete().where(t.aliases.c.report_case_id == report_case_id))
        q = select(t.case_events.c.id, t.case_events.c.payload).where(
            t.case_events.c.case_id == case_id)
        own = [r.id for r in self.c.execute(q) if r.payload.get("case_id") == report_case_id]
        for part in range(0, len(own), CHUNK):
            self.c.execute(t.case_events.update().where(
                t.case_events.c.id.in_(own[part:part + CHUNK])).values(case_id=report_case_id))
        for entry in self.file:
            if entry["case_id"] == case_id and \
                    json.loads(entry["payload"]).get("case_id") == report_case_id:
                entry["case_id"] = report_case_id
        self.rows[report_case_id] = None

    # -- writing ----------------------------------------------------------------------

    def flush(self, dialect: str) -> None:
        deltas = Deltas()
        inserts, updates, deletes = [], [], []
        for case_id, row in self.rows.items():
            stored = self.stored.get(case_id)
            deltas.change(stored, row)
            if row is None:
                if stored is not None:
                    deletes.append({"_id": case_id})
            elif stored is None:
                inserts.append({k: row.get(k) for k in CASE_COLUMNS})
            elif row != stored:
                updates.append({**{k: row.get(k) for k in CASE_COLUMNS}, "_id": case_id})
        self._write(inserts, updates, deletes)
        self._upsert_counts(dialect, deltas)

    def _write(self, inserts: list[dict[str, Any]], updates: list[dict[str, Any]],
               deletes: list[dict[str, Any]]) -> None:
        c = self.c
        if self.new_aliases:
            c.execute(t.aliases.insert(), self.new_aliases)
        if inserts:
            c.execute(t.cases.insert(), inserts)
        if updates:
            c.execute(t.cases.update().where(t.cases.c.case_id == bindparam("_id"))
                      .values({k: bindparam(k) for k in CASE_COLUMNS if k != "case_id"}),
                      updates)
        if deletes:
            c.execute(t.cases.delete().where(t.cases.c.case_id == bindparam("_id")), deletes)
        if self.file:
            c.execute(t.case_events.insert(), self.file)

    def _upsert_counts(self, dialect: str, deltas: Deltas) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = deltas.count_rows()
        if rows:
            q = insert(t.counts)
            self.c.execute(q.on_conflict_do_update(
                index_elements=["area", "dim", "key"], set_={"n": t.counts.c.n + q.excluded.n}),
                rows)
        days = deltas.daily_rows()
        if days:
            q = insert(t.daily)
            self.c.execute(q.on_conflict_do_update(
                index_elements=["area", "day", "category"],
                set_={"reported": t.daily.c.reported + q.excluded.reported,
                      "closed": t.daily.c.closed + q.excluded.closed}), days)
