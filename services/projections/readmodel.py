"""The case read model: the sink of the projections consumer, and its queries.

One transaction per partition batch writes the case rows, the case-file rows and the
tracking row together. Republished events (same event id) are skipped; a redelivered
batch finds its tracking position already passed and records nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.engine import Connection

from services.projections import tables as t
from services.projections.apply import STATUS_BY_EVENT, apply_event
from shared.events import IntegrationEvent
from shared.events.dedup import ReportMerged
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound


class CaseReadModel:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        t.metadata.create_all(self.engine)

    # -- Sink ---------------------------------------------------------------------------

    def tracked_position(self, topic: str, partition: int) -> int:
        with self.engine.connect() as c:
            row = c.execute(select(t.tracking.c.position)
                            .where(t.tracking.c.name == f"{topic}:{partition}")).first()
        return int(row[0]) if row else 0

    def process_batch(self, messages: Sequence[Inbound]) -> bool:
        last = messages[-1]
        with self.engine.begin() as c:
            if not self._advance(c, f"{last.topic}:{last.partition}", last.offset + 1):
                return False
            known = self._known_event_ids(c, [m.event for m in messages if m.event])
            cases: dict[str, dict[str, Any]] = {}
            for m in messages:
                if m.event is None:
                    self._dead_letter(c, m)
                elif str(m.event.event_id) not in known:
                    known.add(str(m.event.event_id))
                    self._apply(c, m, m.event, cases)
            self._write_cases(c, cases)
        return True

    def health_check(self) -> None:
        with self.engine.connect() as c:
            c.execute(select(1))

    def close(self) -> None:
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------

    def _advance(self, c: Connection, name: str, position: int) -> bool:
        """Move the tracking row strictly forward, or report a redelivered batch."""
        current = c.execute(select(t.tracking.c.position).where(t.tracking.c.name == name)
                            .with_for_update()).first()
        if current is None:
            c.execute(t.tracking.insert().values(name=name, position=position))
            return True
        if current[0] >= position:
            return False
        c.execute(update(t.tracking).where(t.tracking.c.name == name).values(position=position))
        return True

    @staticmethod
    def _known_event_ids(c: Connection, events: list[IntegrationEvent]) -> set[str]:
        ids = [str(e.event_id) for e in events]
        if not ids:
            return set()
        rows = c.execute(select(t.case_events.c.event_id).where(t.case_events.c.event_id.in_(ids)))
        return {r[0] for r in rows}

    def _apply(self, c: Connection, m: Inbound, e: IntegrationEvent,
               cases: dict[str, dict[str, Any]]) -> None:
        case_id = self._resolve(c, e)
        row = cases.get(case_id) or self._load_case(c, case_id) or new_case_row(case_id)
        cases[case_id] = row
        apply_event(row, e)
        if isinstance(e, ReportMerged):
            self._merge(c, str(e.report_case_id), case_id, cases)
        c.execute(t.case_events.insert().values(
            event_id=str(e.event_id), case_id=case_id, event_type=e.event_type,
            producer=e.producer, occurred_at=e.occurred_at, actor_id=e.actor.id,
            actor_role=e.actor.role, actor_name=e.actor.name,
            origin=f"{m.topic}:{m.partition}:{m.offset}",
            payload=e.model_dump(mode="json", exclude={"actor"})))

    @staticmethod
    def _resolve(c: Connection, e: IntegrationEvent) -> str:
        case_id = str(e.case_id)
        row = c.execute(select(t.aliases.c.case_id)
                        .where(t.aliases.c.report_case_id == case_id)).first()
        return row[0] if row else case_id

    def _merge(self, c: Connection, report_case_id: str, case_id: str,
               cases: dict[str, dict[str, Any]]) -> None:
        """A merged report's own events join the primary case's file."""
        c.execute(t.aliases.insert().values(report_case_id=report_case_id, case_id=case_id))
        c.execute(update(t.case_events).where(t.case_events.c.case_id == report_case_id)
                  .values(case_id=case_id))
        c.execute(t.cases.delete().where(t.cases.c.case_id == report_case_id))
        cases.pop(report_case_id, None)

    @staticmethod
    def _load_case(c: Connection, case_id: str) -> dict[str, Any] | None:
        row = c.execute(select(t.cases).where(t.cases.c.case_id == case_id)).mappings().first()
        return dict(row) if row else None

    @staticmethod
    def _write_cases(c: Connection, cases: dict[str, dict[str, Any]]) -> None:
        for case_id, row in cases.items():
            values = {k: v for k, v in row.items() if not k.startswith("_")}
            if row.get("_new"):
                c.execute(t.cases.insert().values(**values))
            else:
                c.execute(update(t.cases).where(t.cases.c.case_id == case_id).values(**values))

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

    # -- queries --------------------------------------------------------------------------

    def list_cases(self, *, status: str | None = None, department: str | None = None,
                   area: str | None = None, category: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        q = select(t.cases)
        if status:
            q = q.where(t.cases.c.status == status)
        if department:
            q = q.where(t.cases.c.department == department)
        if category:
            q = q.where(t.cases.c.category == category)
        if area:  # the subtree of a place: its own path or anything below it
            q = q.where((t.cases.c.area_path == area) | t.cases.c.area_path.like(f"{area}/%"))
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = c.execute(q.order_by(t.cases.c.updated_at.desc()).limit(limit)
                             .offset(offset)).mappings()
            return int(total), [dict(r) for r in rows]

    def get_case(self, case_id: uuid.UUID) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            resolved = c.execute(select(t.aliases.c.case_id)
                                 .where(t.aliases.c.report_case_id == str(case_id))).first()
            return self._load_case(c, resolved[0] if resolved else str(case_id))

    def case_file(self, case_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every event of a case in order: by when it happened, then by arrival."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.case_events).where(t.case_events.c.case_id == str(case_id))
                             .order_by(t.case_events.c.occurred_at, t.case_events.c.id)).mappings()
            return [dict(r) for r in rows]

    def counts_by_status(self, area: str | None = None) -> dict[str, int]:
        q = select(t.cases.c.status, func.count()).group_by(t.cases.c.status)
        if area:
            q = q.where((t.cases.c.area_path == area) | t.cases.c.area_path.like(f"{area}/%"))
        with self.engine.connect() as c:
            return {s: int(n) for s, n in c.execute(q)}


def new_case_row(case_id: str) -> dict[str, Any]:
    return {"case_id": case_id, "_new": True, "status": "reported", "report_count": 1}


def make_engine(settings: ServiceSettings) -> Engine:
    url = settings.sqlalchemy_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        return engine
    schema = settings.service_name.replace("-", "_")
    from shared.runtime.store import ensure_schema

    assert settings.database_url
    ensure_schema(settings.database_url, schema)
    return create_engine(url, pool_pre_ping=True, pool_size=5,
                         connect_args={"options": f"-csearch_path={schema}"})


__all__ = ["STATUS_BY_EVENT", "CaseReadModel"]
