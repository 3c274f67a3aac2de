"""One partition batch applied to the read model: loaded in bulk, changed in memory,
written with one statement per table (executemany), inside the caller's transaction.

Per-row statements are what makes a projection slow (see ENGINEERING.md §2.5): a batch of
5,000 events costs a handful of round trips here, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, String, Table, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from services.projections import tables as t
from services.projections.aggregates import Deltas
from services.projections.apply import (
    apply_event,
    apply_link,
    copy_facts,
    merged_into,
    new_facts,
)
from services.projections.bulk import add_rows, execute_many, insert_rows
from shared.events import IntegrationEvent
from shared.events.dedup import ReportMerged, ReportSplit
from shared.runtime.store import Inbound

CHUNK = 5000  # bound parameters per IN list (SQLite >= 3.32 takes 32,766; PostgreSQL 65,535)
CASE_COLUMNS = tuple(c.name for c in t.cases.columns)
FILE_COLUMNS = tuple(c.name for c in t.case_events.columns if c.name != "id")
DEFAULTS = {"warned": False, "overdue": False, "escalated": False, "report_count": 1,
            "reopen_count": 0, "status": "reported"}


def linked_case(e: IntegrationEvent) -> str | None:
    """The second case a merge or split changes: the report merged, the case left."""
    if isinstance(e, ReportMerged):
        return str(e.report_case_id)
    if isinstance(e, ReportSplit):
        return str(e.from_case_id)
    return None


def chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def among(c: Connection, column: ColumnElement[str], values: list[str]) -> ColumnElement[bool]:
    """`column IN values`: on PostgreSQL one array parameter (`= ANY`), where an IN list
    of thousands was compiled and sent as thousands of parameters, a tenth of a rebuild."""
    if c.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(String)))
    return column.in_(values)


# Where the database has a case row: "listed", "hidden" or None (nowhere), and the listed
# row (what the counts hold of it).
Found = tuple[str | None, dict[str, Any] | None]


class Resident:
    """The case rows of a writer that is alone (a rebuild by one worker), kept in memory
    from one batch to the next and written when it is done. A case's events lie on four
    topics, so they reach a rebuild in several batches, and each of those loaded the row
    and wrote it back: a third of a rebuild's time. Holds at most `limit` rows: past
    that they are written (`spill`) and let go, and later batches load them again. A kept
    row moves the counts once, when written: from the row the database had to the last."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.rows: dict[str, tuple[dict[str, Any], bool]] = {}  # case id -> (row, hidden)
        self.found: dict[str, Found] = {}  # where the database has each kept row
        self.spilled = False  # rows of earlier batches may be in the database

    def lend(self, ids: list[str], listed: dict[str, dict[str, Any]],
             hidden: dict[str, dict[str, Any]]) -> list[str]:
        """The kept rows of `ids` as the batch's stored rows; returns the ids to look for in
        the database (none before a spill: a row not kept does not exist yet)."""
        missing = []
        for case_id in ids:
            kept = self.rows.get(case_id)
            if kept is None:
                missing.append(case_id)
            else:
                (hidden if kept[1] else listed)[case_id] = kept[0]
        return missing if self.spilled else []

    def keep(self, case_id: str, row: dict[str, Any], hidden: bool, found: Found) -> None:
        """The row as a batch leaves it; `found`: where that batch found it in the database
        (kept already: the first batch's answer stands)."""
        self.rows[case_id] = (row, hidden)
        self.found.setdefault(case_id, found)

    def spill(self, c: Connection, deltas: Deltas) -> None:
        """Write every kept row and move the counts, then let them go."""
        writes = Writes()
        for case_id, (row, hidden) in self.rows.items():
            was, listed = self.found[case_id]
            deltas.change(listed, None if hidden else row)
            values = {k: row.get(k) for k in CASE_COLUMNS}
            if was == "listed" and not hidden:
                writes["update"].append({**values, "_id": case_id})
                continue
            if was is not None:
                writes["unlist" if was == "listed" else "unhide"].append({"_id": case_id})
            writes["hide" if hidden else "list"].append(values)
        writes.run(c)
        self.rows.clear()
        self.found.clear()
        self.spilled = True


class Batch:
    def __init__(self, c: Connection, known_event_ids: set[str],
                 hold_cases: bool = True, resident: Resident | None = None) -> None:
        self.c = c
        self.known = known_event_ids
        self.hold_cases = hold_cases  # other writers may change the same cases meanwhile (_lock)
        self.resident = resident  # this writer is alone: rows stay in memory (Resident)
        self.aliases: dict[str, str] = {}  # report case id -> the case it is merged into
        self.realiased: set[str] = set()  # reports whose alias this batch changed
        self.stored: dict[str, dict[str, Any]] = {}  # listed rows as the database holds them
        self.hidden: dict[str, dict[str, Any]] = {}  # merged reports' rows, likewise
        self.rows: dict[str, dict[str, Any]] = {}  # rows as this batch leaves them
        self.file: list[dict[str, Any]] = []
        self.own: list[str] = []  # the case id each file entry's event names itself
        self.changes: list[dict[str, Any]] = []  # what happened, for live page updates
        self.loaded: set[str] = set()  # with a Resident: the ids looked for in the database

    # -- loading ----------------------------------------------------------------------

    def preload(self, events: Iterable[IntegrationEvent]) -> None:
        ids = {str(e.case_id) for e in events}
        ids |= {other for e in events if (other := linked_case(e)) is not None}
        wanted = sorted(ids)
        self._lock(wanted)
        for part in chunks(wanted):
            q = select(t.aliases).where(among(self.c, t.aliases.c.report_case_id, part))
            self.aliases.update({r.report_case_id: r.case_id for r in self.c.execute(q)})
        if self.resident is not None:
            wanted = self.resident.lend(wanted, self.stored, self.hidden)
            self.loaded = set(wanted)
        for part in chunks(wanted):
            for table, into in ((t.cases, self.stored), (t.merged_cases, self.hidden)):
                q = select(table).where(among(self.c, table.c.case_id, part))
                for r in self.c.execute(q).mappings():
                    into[r["case_id"]] = dict(r)

    def _lock(self, ids: list[str]) -> None:
        """Hold these cases until the batch commits: another writer of the same case (an
        instance with another topic's partition, a rebuild worker with the other side of
        a merge) waits, then loads what this one wrote. Unheld, the later commit wrote its
        whole row over the earlier one's change, and a report merged by one writer while
        another registered it was inserted into both the listed and the merged table (a
        row that does not exist yet has nothing to lock, so the lock is on the case id:
        a transaction-scoped advisory lock, in this read model's key space, in key order
        so that two writers never wait for each other). SQLite has one writer anyway, and
        so has a rebuild by one worker. A lock per case: PostgreSQL's lock table holds
        max_locks_per_transaction × max_connections (6,400 by default) at once, which
        bounds a batch that holds (readmodel.HELD_BATCH)."""
        if not self.hold_cases or self.c.dialect.name != "postgresql" or not ids:
            return
        self.c.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), k) FROM "
            "(SELECT DISTINCT hashtext(id) AS k FROM unnest(%(ids)s::text[]) AS id "
            "ORDER BY k) AS keys", {"ids": ids})

    def is_new(self, e: IntegrationEvent) -> bool:
        """Republished events (same id) are skipped: the read model applies each once."""
        key = str(e.event_id)
        if key in self.known:
            return False
        self.known.add(key)
        return True

    def row(self, case_id: str) -> dict[str, Any]:
        row = self.rows.get(case_id)
        if row is None:
            stored = self.stored.get(case_id) or self.hidden.get(case_id)
            row = ({**stored, "facts": copy_facts(stored["facts"] or {})} if stored
                   else {"case_id": case_id, **DEFAULTS, "facts": new_facts()})
            self.rows[case_id] = row
        return row

    # -- applying ---------------------------------------------------------------------

    def apply(self, m: Inbound, e: IntegrationEvent) -> None:
        case_id = str(e.case_id)
        row = self.row(case_id)
        apply_event(row, e)
        other = linked_case(e)
        if other is not None and other != case_id:  # a case never merges into itself
            apply_link(self.row(other), e)
            self._realias(other if isinstance(e, ReportMerged) else case_id)
        owner = self.aliases.get(case_id, case_id)  # a merged report's events: its case's file
        self.file.append({
            "event_id": str(e.event_id), "case_id": owner, "event_type": e.event_type,
            "producer": e.producer, "occurred_at": e.occurred_at, "actor_id": e.actor.id,
            "actor_role": e.actor.role, "actor_name": e.actor.name,
            "origin": f"{m.topic}:{m.partition}:{m.offset}",
            "payload": e.model_dump_json(exclude={"actor"})})
        self.own.append(case_id)
        self.changes.append({"case_id": owner, "event_type": e.event_type,
                             "status": row.get("status"), "area_path": row.get("area_path"),
                             "department": row.get("department")})

    def _realias(self, report: str) -> None:
        """A merge or split moved a report: its row leaves (or rejoins) the lists and its
        events the case file they were in."""
        new, old = merged_into(self.rows[report]), self.aliases.get(report)
        if new == old:
            return
        self.realiased.add(report)
        if old is not None:
            del self.aliases[report]
            self._file_back(report, old)
        if new is not None:
            self.aliases[report] = new
            self._file_into(report, new)

    def _file_into(self, report: str, case_id: str) -> None:
        self.c.execute(t.case_events.update().where(t.case_events.c.case_id == report)
                       .values(case_id=case_id))
        for entry in self.file:
            if entry["case_id"] == report:
                entry["case_id"] = case_id

    def _file_back(self, report: str, case_id: str) -> None:
        """The report's own events (their payload names it) leave the case's file."""
        q = select(t.case_events.c.id, t.case_events.c.payload).where(
            t.case_events.c.case_id == case_id)
        own = [r.id for r in self.c.execute(q) if r.payload.get("case_id") == report]
        for part in range(0, len(own), CHUNK):
            self.c.execute(t.case_events.update().where(
                t.case_events.c.id.in_(own[part:part + CHUNK])).values(case_id=report))
        for entry, own_id in zip(self.file, self.own, strict=True):
            if own_id == report and entry["case_id"] == case_id:
                entry["case_id"] = report

    # -- writing ----------------------------------------------------------------------

    def flush(self, pending: Deltas | None = None) -> None:
        """Write the batch's rows and file; the counts move now, or into `pending` (a
        rebuild writes them once at its end)."""
        deltas = pending if pending is not None else Deltas()
        writes = Writes()
        for case_id, row in self.rows.items():
            listed, merged = self.stored.get(case_id), self.hidden.get(case_id)
            hidden = case_id in self.aliases
            if self.resident is not None:
                self.resident.keep(case_id, row, hidden, self._found(case_id))
                continue
            deltas.change(listed, None if hidden else row)
            values = {k: row.get(k) for k in CASE_COLUMNS}
            if hidden:  # a merged report: out of the lists, kept in rm_merged_cases
                if listed is not None:
                    writes["unlist"].append({"_id": case_id})
                if merged is not None and row != merged:
                    writes["unhide"].append({"_id": case_id})
                if merged is None or row != merged:
                    writes["hide"].append(values)
            elif listed is None:
                if merged is not None:
                    writes["unhide"].append({"_id": case_id})
                writes["list"].append(values)
            elif row != listed:
                writes["update"].append({**values, "_id": case_id})
        self._write_aliases()
        writes.run(self.c)
        insert_rows(self.c, t.case_events, FILE_COLUMNS, self.file)
        if self.resident is not None and len(self.resident.rows) > self.resident.limit:
            self.resident.spill(self.c, deltas)
        if pending is None:
            write_counts(self.c, deltas)

    def _found(self, case_id: str) -> Found:
        """With a Resident: the table this batch found the row in, and the row if listed."""
        if case_id in self.loaded and case_id in self.stored:
            return "listed", self.stored[case_id]
        if case_id in self.loaded and case_id in self.hidden:
            return "hidden", None
        return None, None

    def _write_aliases(self) -> None:
        if not self.realiased:
            return
        gone = [{"_id": r} for r in sorted(self.realiased)]
        now = [{"report_case_id": r, "case_id": self.aliases[r]}
               for r in sorted(self.realiased) if r in self.aliases]
        execute_many(self.c, "unalias", lambda: t.aliases.delete().where(
            t.aliases.c.report_case_id == bindparam("_id")), gone)
        execute_many(self.c, "alias", lambda: t.aliases.insert().values(
            report_case_id=bindparam("report_case_id"), case_id=bindparam("case_id")), now)


def _by_id(table: Table) -> ColumnElement[bool]:
    return table.c.case_id == bindparam("_id")


class Writes(dict[str, list[dict[str, Any]]]):
    """A batch's case-row writes by kind, run in this order: rows leave a table before
    rows of the same id enter the other."""

    KINDS = ("unlist", "unhide", "list", "hide", "update")

    def __init__(self) -> None:
        super().__init__({kind: [] for kind in self.KINDS})

    def run(self, c: Connection) -> None:
        execute_many(c, "unlist", lambda: t.cases.delete().where(_by_id(t.cases)),
                     self["unlist"])
        execute_many(c, "unhide", lambda: t.merged_cases.delete().where(
            _by_id(t.merged_cases)), self["unhide"])
        insert_rows(c, t.cases, CASE_COLUMNS, self["list"])
        insert_rows(c, t.merged_cases, CASE_COLUMNS, self["hide"])
        execute_many(c, "update", lambda: t.cases.update().where(_by_id(t.cases)).values(
            {k: bindparam(k) for k in CASE_COLUMNS if k != "case_id"}), self["update"])


def write_counts(c: Connection, deltas: Deltas) -> None:
    """Add the deltas to the pre-aggregated tables."""
    add_rows(c, t.counts, ("n",), deltas.count_rows())
    add_rows(c, t.daily, ("reported", "closed"), deltas.daily_rows())
