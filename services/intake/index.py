"""Intake's own read table of reports, built from its notification log.

The manual placement queue and Open311's GET requests need queries (unplaced, by service
code, by date, by status) that an event store cannot answer. The table is a projection
of intake's own events with its own position, so it can always be rebuilt, and a reader
calls `catch_up()` first to see its own writes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import DateTime as SqlDateTime
from sqlalchemy.types import TypeDecorator

from shared.places.codes import join_path
from shared.runtime.settings import ServiceSettings, postgres_sqlalchemy_url
from shared.runtime.store import ServiceApplication, ensure_schema
from shared.runtime.tail import tail


class UtcDateTime(TypeDecorator[datetime]):
    """Stored in UTC, read back timezone-aware on every database (SQLite keeps no zone)."""

    impl = SqlDateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()
reports = Table(
    "report_index", metadata,
    Column("report_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),  # the primary case once merged
    Column("channel", String(24), nullable=False),
    Column("external_ref", String(128), nullable=False),
    Column("category", String(64), nullable=False, index=True),
    Column("title", String(200)),
    Column("description", Text),
    Column("address", String(300)),
    Column("lon", Float), Column("lat", Float),
    Column("place_code", String(24)),
    Column("area_path", String(200), nullable=False, index=True),
    Column("placed", Boolean, nullable=False, index=True),
    Column("status", String(24), nullable=False, index=True),
    Column("department", String(64)),
    Column("attachments", JSON),
    Column("contact", JSON),  # masked forms only
    Column("reported_at", UtcDateTime, nullable=False, index=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
position = Table(
    "report_index_position", metadata,
    Column("name", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
)
MASKED = ("role", "name_masked", "phone_masked", "id_number_masked", "email_masked",
          "person_ref")


def make_engine(settings: ServiceSettings) -> Engine:
    """The service's SQL database: a SQLite file beside the event store, or its schema."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / f"{settings.service_name}-index.sqlite"
        engine = create_engine(f"sqlite:///{path}",
                               connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        return engine
    schema = settings.service_name.replace("-", "_")
    ensure_schema(settings.database_url, schema)
    return create_engine(postgres_sqlalchemy_url(settings.database_url), pool_pre_ping=True,
                         pool_size=5, connect_args={"options": f"-csearch_path={schema}"})


class ReportIndex:
    def __init__(self, engine: Engine, app: ServiceApplication, batch: int = 1000) -> None:
        self.engine = engine
        self.app = app
        self.log = tail(app)
        self.batch = batch
        self._lock = threading.Lock()
        metadata.create_all(engine)

    def catch_up(self) -> int:
        """Apply every new notification; returns how many were applied."""
        done = 0
        with self._lock:
            while True:
                try:
                    with self.engine.begin() as c:
                        at = c.execute(select(position.c.position)
                                       .where(position.c.name == "log")).scalar()
                        last, events = self.log.after(at or 0, self.batch)
                        self._apply(c, events)
                        if last != (at or 0):
                            self._advance(c, at, last)
                except IntegrityError:
                    continue  # another intake instance applied these first: read on
                done += len(events)
                if len(events) < self.batch and not self.log.pending(last):
                    return done

    @staticmethod
    def _advance(c: Connection, at: int | None, to: int) -> None:
        if at is None:
            c.execute(insert(position).values(name="log", position=to))
        else:
            c.execute(update(position).where(position.c.name == "log").values(position=to))

    @staticmethod
    def _apply(c: Connection, events: Sequence[Any]) -> None:
        """The events' changes, folded per report in log order, then written with one
        insert for the new reports and one update per set of columns changed (a
        statement per event cost intake more than the reports' own recording)."""
        new: dict[str, dict[str, Any]] = {}  # report id -> its row
        changed: dict[str, dict[str, Any]] = {}  # report id -> columns to set
        for e in events:
            rid = str(e.originator_id)
            if type(e).__name__ == "Received":
                new[rid] = _row(e)
            elif rid in new:  # recorded and changed since the last catch-up
                new[rid].update(_changes(e))
            else:
                changed.setdefault(rid, {}).update(_changes(e))
        if new:
            c.execute(insert(reports), list(new.values()))
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for rid, values in changed.items():
            if values:
                by_columns.setdefault(tuple(sorted(values)), []).append({**values, "_rid": rid})
        for columns, rows in by_columns.items():
            c.execute(update(reports).where(reports.c.report_id == bindparam("_rid"))
                      .values({k: bindparam(k) for k in columns}), rows)

    # -- queries ------------------------------------------------------------------------

    def get(self, report_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(reports).where(reports.c.report_id == report_id)).first()
        return dict(row._mapping) if row else None

    def find(self, *, ids: Sequence[str] = (), categories: Sequence[str] = (),
             start: datetime | None = None, end: datetime | None = None,
             statuses: Sequence[str] = (), placed: bool | None = None,
             area: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        q = select(reports)
        if ids:
            q = q.where(reports.c.report_id.in_(list(ids)))
        if categories:
            q = q.where(reports.c.category.in_(list(categories)))
        if start:
            q = q.where(reports.c.reported_at >= start)
        if end:
            q = q.where(reports.c.reported_at <= end)
        if statuses:
            q = q.where(reports.c.status.in_(list(statuses)))
        if placed is not None:
            q = q.where(reports.c.placed.is_(placed))
        if area:
            q = q.where((reports.c.area_path == area) | reports.c.area_path.like(area + "/%"))
        q = q.order_by(reports.c.reported_at.desc()).limit(limit)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def of_person(self, person_refs: Sequence[str]) -> list[dict[str, Any]]:
        """The reports whose contact is one of these persons (for erasure)."""
        if not person_refs:
            return []
        ref = reports.c.contact["person_ref"].as_string()
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in
                    c.execute(select(reports).where(ref.in_(list(person_refs))))]

    def statuses(self, case_ids: Sequence[str]) -> dict[str, str]:
        """The status of the reports that started these cases (a merged report shows its
        primary case's status)."""
        if not case_ids:
            return {}
        q = select(reports.c.report_id, reports.c.status).where(
            reports.c.report_id.in_(list(case_ids)))
        with self.engine.connect() as c:
            return {r.report_id: r.status for r in c.execute(q)}

    def status_counts(self, area: str, channel: str | None = None) -> dict[str, int]:
        q = select(reports.c.status, func.count()).where(
            (reports.c.area_path == area) | reports.c.area_path.like(area + "/%"))
        if channel:
            q = q.where(reports.c.channel == channel)
        with self.engine.connect() as c:
            return {s: int(n) for s, n in c.execute(q.group_by(reports.c.status))}

    def count(self, channel: str | None = None) -> int:
        q = select(func.count()).select_from(reports)
        if channel:
            q = q.where(reports.c.channel == channel)
        with self.engine.connect() as c:
            return int(c.execute(q).scalar_one())


def _row(e: Any) -> dict[str, Any]:
    loc = e.location or {}
    contact = e.contact or None
    return {
        "report_id": str(e.originator_id), "case_id": str(e.originator_id),
        "channel": e.channel, "external_ref": e.external_ref, "category": e.category,
        "title": e.title, "description": e.description, "address": e.address,
        "lon": loc.get("lon"), "lat": loc.get("lat"), "place_code": e.place_code,
        "area_path": join_path(e.area_path), "placed": e.placed, "status": "reported",
        "department": e.assigned_department, "attachments": list(e.attachments),
        "contact": {k: contact.get(k, "") for k in MASKED} if contact else None,
        "reported_at": e.reported_at, "updated_at": e.timestamp,
    }


def _changes(e: Any) -> dict[str, Any]:
    """The columns an event after Received sets on its report's row."""
    kind = type(e).__name__
    if kind == "Placed":
        loc = e.location or {}
        return {"place_code": e.place_code, "area_path": join_path(e.area_path), "placed": True,
                "lon": loc.get("lon"), "lat": loc.get("lat"), "updated_at": e.timestamp}
    if kind == "StatusChanged":
        values: dict[str, Any] = {"status": e.status, "updated_at": e.timestamp}
        if e.status == "split":
            values["case_id"] = str(e.originator_id)
        if e.department:
            values["department"] = e.department
        return values
    if kind == "ContactErased":  # even the masked forms go from the read table
        return {"contact": _erased(e.role, e.person_ref), "updated_at": e.timestamp}
    if kind == "Merged":
        return {"case_id": str(e.case_id), "status": "merged", "updated_at": e.timestamp}
    return {}


def _erased(role: str, person_ref: str) -> dict[str, Any]:
    return {**dict.fromkeys(MASKED, ""), "role": role, "person_ref": person_ref,
            "erased": True}
