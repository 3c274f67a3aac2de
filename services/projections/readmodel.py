"""The case read model: the sink of the projections consumer, and its queries.

One transaction per poll writes the case rows, the case-file rows and a tracking row per
partition together. Republished events (same event id) are skipped; a redelivered
batch finds its tracking position already passed and records nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection

from services.projections import queries as q
from services.projections import tables as t
from services.projections.aggregates import Deltas
from services.projections.apply import STATUS_BY_EVENT
from services.projections.batch import Batch, Resident, among
from services.projections.hotspots import Window, detect
from services.projections.queries import CaseFilter
from services.projections.stream import Broadcaster
from shared.events import IntegrationEvent
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound, ensure_schema, schema_name, schema_setup_lock

# The most messages a batch that holds its cases may carry: a lock per case, and
# PostgreSQL's lock table is shared by every session (Batch._lock).
HELD_BATCH = 1000


class CaseReadModel:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        # The sink writes every area; queries read through `reading` (the caller's area).
        # Two roles when a writer URL is set (row-level security), else one engine.
        self.engine = make_engine(settings, writer=True)
        self.reader = make_engine(settings) if settings.database_writer_url else self.engine
        if settings.database_migrated:  # the owner made the tables (govctl.migrate)
            self._require_migrated()
        else:
            with schema_setup_lock(settings):  # instances starting together create once
                t.metadata.create_all(self.engine)
        # Called after each recorded batch with what changed (live page updates).
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        self.broadcaster = Broadcaster()
        self.listeners.append(self.broadcaster.publish)
        # A rebuild gathers the counts' changes here and writes them once (rebuild.py).
        self.pending_counts: Deltas | None = None
        # A writer that is alone keeps the case rows in memory until it is done (Resident).
        self.resident: Resident | None = None
        # Whether another writer may change the same cases (live instances, rebuild
        # workers): each batch then holds its cases (Batch._lock). One rebuild worker
        # writes alone.
        self.hold_cases = True

    # -- Sink ---------------------------------------------------------------------------

    def tracked_position(self, topic: str, partition: int) -> int:
        with self.engine.connect() as c:
            row = c.execute(select(t.tracking.c.position)
                            .where(t.tracking.c.name == f"{topic}:{partition}")).first()
        return int(row[0]) if row else 0

    def tracked_positions(self) -> dict[TopicPartition, int]:
        """Every tracking row: how far each partition has been recorded."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.tracking.c.name, t.tracking.c.position)).all()
        return {TopicPartition(*_topic_partition(name)): int(position)
                for name, position in rows}

    def process_batch(self, messages: Sequence[Inbound]) -> bool:
        return self.process_partitions([messages])[0]

    def process_partitions(self, batches: Sequence[Sequence[Inbound]]) -> list[bool]:
        """Several partitions' batches in one transaction, each with its tracking row; a
        redelivered one (its row already past it) is left out. The read model's result
        does not depend on the order the batches are applied in (apply.py)."""
        names = [f"{b[-1].topic}:{b[-1].partition}" for b in batches]
        with self.engine.begin() as c:
            recorded = self._advance_all(c, {name: b[-1].offset + 1
                                             for name, b in zip(names, batches, strict=True)})
            messages = [m for name, b in zip(names, batches, strict=True) if recorded[name]
                        for m in b]
            if not messages:
                return [False] * len(batches)
            events = [m.event for m in messages if m.event]
            batch = Batch(c, self._known_event_ids(c, events), hold_cases=self.hold_cases,
                          resident=self.resident)
            batch.preload(events)
            for m in messages:
                if m.event is None:
                    self._dead_letter(c, m)
                elif batch.is_new(m.event):
                    batch.apply(m, m.event)
            batch.flush(self.pending_counts)
        for listener in self.listeners:
            listener(batch.changes)
        return [recorded[name] for name in names]

    def health_check(self) -> None:
        for engine in {self.engine, self.reader}:
            with engine.connect() as c:
                c.execute(select(1))

    def _require_migrated(self) -> None:
        """The writer cannot create a read model: say which migration is missing."""
        if not inspect(self.engine).has_table(t.cases.name):
            name = self.settings.service_name
            raise RuntimeError(f"read model {name!r} is not migrated: run `python -m "
                               f"govctl.migrate {name}` as the database owner first")

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()

    # -- writing --------------------------------------------------------------------------

    @staticmethod
    def _advance_all(c: Connection, positions: dict[str, int]) -> dict[str, bool]:
        """Move each tracking row strictly forward (topic:partition -> next offset); False
        for a redelivered batch, whose row is already there. Locked until commit."""
        current = dict(c.execute(select(t.tracking.c.name, t.tracking.c.position)
                                 .where(t.tracking.c.name.in_(list(positions)))
                                 .with_for_update()).all())
        moved = {name: current.get(name, -1) < position for name, position in positions.items()}
        new = [{"name": n, "position": p} for n, p in positions.items() if n not in current]
        ahead = [{"_name": n, "position": p} for n, p in positions.items()
                 if n in current and moved[n]]
        if new:
            c.execute(t.tracking.insert(), new)
        if ahead:
            c.execute(update(t.tracking).where(t.tracking.c.name == bindparam("_name"))
                      .values(position=bindparam("position")), ahead)
        return moved

    @staticmethod
    def _known_event_ids(c: Connection, events: list[IntegrationEvent]) -> set[str]:
        ids = [str(e.event_id) for e in events]
        if not ids:
            return set()
        rows = c.execute(select(t.case_events.c.event_id)
                         .where(among(c, t.case_events.c.event_id, ids)))
        return {r[0] for r in rows}

    def _dead_letter(self, c: Connection, m: Inbound) -> None:
        origin = f"{m.topic}:{m.partition}:{m.offset}"
        exists = c.execute(select(t.dead_letters.c.origin)
                           .where(t.dead_letters.c.origin == origin)).first()
        if not exists:
            c.execute(t.dead_letters.insert().values(
                origin=origin, error=(m.error or "unparseable")[:1000],
                event_type=m.event_type, recorded_at=datetime.now(UTC), published=False))

    # -- dead-letter outbox ---------------------------------------------------------------

    def unpublished_dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(t.dead_letters).where(t.dead_letters.c.published.is_(False))
                             .order_by(t.dead_letters.c.recorded_at).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def mark_dead_letters_published(self, origins: list[str]) -> None:
        with self.engine.begin() as c:
            c.execute(update(t.dead_letters).where(t.dead_letters.c.origin.in_(origins))
                      .values(published=True))

    def mark_all_dead_letters_published(self) -> None:
        """After a rebuild: the letters found again were published when first met."""
        with self.engine.begin() as c:
            c.execute(update(t.dead_letters).values(published=True))

    # -- queries --------------------------------------------------------------------------

    def list_cases(self, f: CaseFilter | None = None, *, limit: int = 50, offset: int = 0,
                   order: str = "updated", **filters: Any) -> tuple[int, list[dict[str, Any]]]:
        """Cases of one subtree (`f.area`), newest change first or nearest deadline first."""
        f = f or CaseFilter(**filters)
        with self.reading(f.area) as c:
            return q.list_cases(c, f, limit, offset, order)

    @contextmanager
    def reading(self, scope: str | None) -> Iterator[Connection]:
        """A read transaction that PostgreSQL lets see `scope` and below only (row-level
        security, the second wall behind the queries' own conditions); None: nothing."""
        with self.reader.connect() as c:
            q.set_scope(c, scope)
            yield c

    def get_case(self, case_id: uuid.UUID, scope: str | None = None) -> dict[str, Any] | None:
        with self.reading(scope) as c:
            resolved = c.execute(select(t.aliases.c.case_id)
                                 .where(t.aliases.c.report_case_id == str(case_id))).first()
            wanted = resolved[0] if resolved else str(case_id)
            row = c.execute(select(t.cases).where(t.cases.c.case_id == wanted)).mappings().first()
            return dict(row) if row else None

    def case_file(self, case_id: uuid.UUID, scope: str | None = None) -> list[dict[str, Any]]:
        """Every event of a case in order: by when it happened, then by arrival."""
        with self.reading(scope) as c:
            rows = c.execute(select(t.case_events).where(t.case_events.c.case_id == str(case_id))
                             .order_by(t.case_events.c.occurred_at, t.case_events.c.id)).mappings()
            return [dict(r) for r in rows]

    def counts_by_status(self, area: str) -> dict[str, int]:
        with self.reading(area) as c:
            return q.node_counts(c, area).get("status", {})

    def summary(self, area: str) -> dict[str, Any]:
        with self.reading(area) as c:
            return q.summary(c, area)

    def level_counts(self, area: str, level_depth: int) -> list[dict[str, Any]]:
        with self.reading(area) as c:
            return q.level_counts(c, area, level_depth)

    def trend(self, area: str, first: date, last: date, period: str,
              category: str | None = None) -> list[dict[str, Any]]:
        with self.reading(area) as c:
            return q.trend(c, area, first, last, period, category)

    def hotspots(self, area: str, level_depth: int, window: Window,
                 alpha: float = 0.01) -> list[dict[str, Any]]:
        with self.reading(area) as c:
            return detect(c, area, level_depth, window, alpha)

    # -- rebuilding ---------------------------------------------------------------------

    def reset(self) -> None:
        """Empty every read-model table with its tracking rows: dropped and created again,
        or on a migrated database (the writer owns no table) truncated."""
        if self.settings.database_migrated:
            names = ", ".join(table.name for table in t.metadata.sorted_tables)
            with self.engine.begin() as c:
                c.exec_driver_sql(f"TRUNCATE {names}")
            return
        t.metadata.drop_all(self.engine)
        t.metadata.create_all(self.engine)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """The whole read model as comparable data (no surrogate ids, no zero counts)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as c:
            for table in (t.cases, t.aliases, t.counts, t.daily):
                rows = c.execute(select(table)).all()
                out[table.name] = sorted(tuple(r) for r in rows if _nonzero(table, r))
            cols = [col for col in t.case_events.c if col.name != "id"]
            out[t.case_events.name] = sorted(tuple(r) for r in c.execute(select(*cols)).all())
        return out

    def event_count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(t.case_events)).scalar_one())


def _topic_partition(name: str) -> tuple[str, int]:
    topic, partition = name.rsplit(":", 1)
    return topic, int(partition)


def _nonzero(table: Any, row: Any) -> bool:
    if table is t.counts:
        return bool(row.n)
    if table is t.daily:
        return bool(row.reported or row.closed)
    return True


def make_engine(settings: ServiceSettings, writer: bool = False) -> Engine:
    url = settings.sqlalchemy_url(writer)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        return engine
    schema = schema_name(settings.service_name)
    if not settings.database_migrated:
        assert settings.database_url
        ensure_schema(settings.database_url, schema)
    return create_engine(url, pool_pre_ping=True, pool_size=5,
                         connect_args={"options": f"-csearch_path={schema}"})


__all__ = ["STATUS_BY_EVENT", "CaseReadModel"]
