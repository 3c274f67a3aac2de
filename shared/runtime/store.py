"""The event store of a service, whose notification log is the outbox.

`ServiceApplication` is an eventsourcing `EventSourcedProjection`: its recorder is a
process recorder, so the events a policy collects are recorded in one transaction with
a tracking row per partition of the poll (topic:partition -> next offset). A redelivered
batch conflicts on its tracking row and records nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Recording, Tracking
from eventsourcing.projection import EventSourcedProjection
from eventsourcing.sqlite import SQLiteRecorder

from shared.events import IntegrationEvent
from shared.runtime import recorders
from shared.runtime.prefetch import RecentAggregates, prefetch
from shared.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)

OUTBOX_TRACKING = "outbox:kafka"  # the relay's position in the notification log
DEAD_LETTER_NAMESPACE = uuid.UUID("0d3c9a52-5e8b-4f0e-9a1c-2b6f7e8d9c10")


Handler = Callable[[Any, ProcessingEvent[uuid.UUID]], None]


class DomainError(Exception):
    """A rule of the domain refused a command. `rule` names it (HTTP 409, dead letter)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


class NotFoundError(DomainError):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__("not_found", f"{what} {ident} does not exist")


@dataclass(frozen=True)
class Inbound:
    """One consumed message: its origin, and the event if it parsed."""

    topic: str
    partition: int
    offset: int
    event: IntegrationEvent | None
    error: str | None = None
    event_type: str | None = None


class DeadLetter(Aggregate):
    """A message this service could not use. Recorded with the batch's tracking row, so a
    dead letter is written exactly once; the relay publishes it to the dead-letter topic.
    Holds the origin and the error, never the message body (it may hold personal data)."""

    @staticmethod
    def create_id(origin_topic: str, origin_partition: int, origin_offset: int) -> uuid.UUID:
        return uuid.uuid5(
            DEAD_LETTER_NAMESPACE, f"{origin_topic}:{origin_partition}:{origin_offset}"
        )

    @event("Recorded")
    def __init__(
        self,
        origin_topic: str,
        origin_partition: int,
        origin_offset: int,
        error: str,
        event_type: str | None,
        event_id: str | None,
    ) -> None:
        self.origin_topic = origin_topic
        self.origin_partition = origin_partition
        self.origin_offset = origin_offset
        self.error = error
        self.event_type = event_type
        self.event_id = event_id


def persistence_env(settings: ServiceSettings) -> dict[str, str]:
    """eventsourcing's environment: PostgreSQL (a schema per service) or a SQLite file.

    On a migrated database the runtime role creates nothing (CREATE_TABLE off) and takes
    the events table's insert lock through the owner's function (shared/runtime/migrations.py)."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_path()),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "y",
            "PROCESS_RECORDER_TOPIC": recorders.SQLITE,
        }
    url = urlparse(settings.database_url)
    schema = schema_name(settings.service_name)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or ""),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "5",
        # No ping before each use (a round trip per statement, doubling a batch's): a
        # connection the server dropped fails its statement, the pool discards it, and
        # eventsourcing retries the statement on a fresh one (OperationalError, 10 times).
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "y",
        "PROCESS_RECORDER_TOPIC": recorders.POSTGRES,
    }
    if settings.database_migrated:
        return {**env, "CREATE_TABLE": "n",
                "PROCESS_RECORDER_TOPIC": "shared.runtime.migrations:RuntimeProcessRecorder"}
    ensure_schema(settings.database_url, schema)
    return env


def schema_name(service_name: str) -> str:
    """A service's PostgreSQL schema."""
    return service_name.replace("-", "_")


@contextmanager
def schema_setup_lock(settings: ServiceSettings) -> Iterator[None]:
    """Serialise table creation between instances of one service starting together.

    PostgreSQL's CREATE ... IF NOT EXISTS is not safe under concurrency: two instances
    creating the same table fail with 'tuple concurrently updated'. A session advisory
    lock per schema makes the second instance wait and then find the tables made."""
    if not settings.database_url:
        yield  # SQLite: one process per file, its own lock timeout
        return
    import psycopg

    key = f"schema-setup:{settings.service_name}"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def ensure_schema(database_url: str, schema: str) -> None:
    import psycopg  # imported here: SQLite deployments never need it

    with psycopg.connect(database_url, autocommit=True) as conn:
        # Looked up first: a runtime role may not CREATE SCHEMA, even one that exists.
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
            return
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def forbid_rewrites(recorder: Any) -> None:
    """Make the stored events append-only: UPDATE, DELETE and TRUNCATE are refused.

    Two walls. On a migrated database the services' runtime role holds only SELECT and
    INSERT on the events table (the owner, `python -m govctl.migrate`, made it), so a
    rewrite is refused as a privilege. The trigger stays for everyone else, the owner
    included, and for a single-URL database where the service owns its tables (an owner
    can always grant itself back what was revoked). Dropping the trigger is deliberate DDL,
    and the supervision hash chain still shows any changed byte (docs/supervision.md)."""
    table = getattr(recorder, "events_table_name", None)
    datastore = getattr(recorder, "datastore", None)
    if table is None or datastore is None:
        return  # in-memory stores (unit tests)
    if isinstance(recorder, SQLiteRecorder):
        with datastore.transaction(commit=True) as cursor:
            for op in ("UPDATE", "DELETE"):
                cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE "
                               f"{op} ON {table} BEGIN SELECT RAISE(ABORT, 'stored events "
                               f"are append-only: {op} refused'); END")
        return
    target = f'"{datastore.schema}"."{table}"'
    refuse = f'"{datastore.schema}".refuse_event_rewrite'
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"append-only:{target}",))
        cursor.execute(f"""CREATE OR REPLACE FUNCTION {refuse}() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN
              RAISE EXCEPTION 'stored events are append-only: % on %.% refused',
                TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END $$""")
        cursor.execute(f"CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON "
                       f"{target} FOR EACH ROW EXECUTE FUNCTION {refuse}()")
        cursor.execute(f"CREATE OR REPLACE TRIGGER append_only_truncate BEFORE TRUNCATE ON "
                       f"{target} FOR EACH STATEMENT EXECUTE FUNCTION {refuse}()")


def _tracking(batch: Sequence[Inbound]) -> Tracking:
    """A partition's tracking row: topic:partition -> the next offset to consume."""
    last = batch[-1]
    return Tracking(f"{last.topic}:{last.partition}", last.offset + 1)


class Processing(ProcessingEvent[uuid.UUID]):
    """eventsourcing's unit of work, collecting our aggregates' events without its
    isinstance checks against runtime protocols: on Python 3.11 those cost a twentieth
    of a consumer's time and a twelfth of intake's."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        others = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                others.append(obj)
        super().collect_events(*others, **kwargs)


class BatchProcessing(Processing):
    """A consumed batch's unit of work, with the aggregates it reads loaded up front."""

    def __init__(self, tracking: Tracking, more: Sequence[Tracking] = ()) -> None:
        super().__init__(tracking=tracking)
        # The other partitions' rows of a poll, recorded in the same transaction
        # (shared/runtime/recorders.py).
        self.saved_kwargs["more_tracking"] = list(more)
        self.asked: set[uuid.UUID] = set()
        self.prefetched: dict[uuid.UUID, Any] = {}

    def prefetch(self, app: ServiceApplication, ids: set[uuid.UUID]) -> None:
        self.prefetched = prefetch(app.recorder, app.mapper, ids, app.recent.take(ids))
        self.asked = ids

    def touched(self) -> list[Any]:
        """Every aggregate this unit of work read or changed."""
        return [*self.prefetched.values(), *self.aggregates.values()]


class ServiceApplication(EventSourcedProjection[uuid.UUID]):
    """Base of every service's application: commands (get -> change -> save) for HTTP,
    and `process_batch` for consumed messages, both recording into the same store."""

    def __init__(self, settings: ServiceSettings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        # Called with what each save or poll recorded, once committed (e.g. by the relay).
        self.on_recorded: list[Callable[[list[Recording[uuid.UUID]]], None]] = []
        self._handler_cache: dict[type[IntegrationEvent], Handler] | None = None
        self.recent = RecentAggregates(settings.aggregate_cache_size)
        with schema_setup_lock(settings):
            super().__init__({**persistence_env(settings), **(env or {})})
            if not settings.database_migrated:  # else the migration installed it as owner
                forbid_rewrites(self.recorder)

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """eventsourcing's `save` with our `Processing` (and without the deprecated
        `notify` hook, which nothing here uses)."""
        processing = Processing()
        processing.collect_events(*objs, **kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def _notify(self, recordings: list[Any]) -> None:
        super()._notify(recordings)
        if recordings:
            for hook in self.on_recorded:
                hook(recordings)

    # -- consuming ---------------------------------------------------------------------

    def tracked_position(self, topic: str, partition: int) -> int:
        """The next offset to consume: what was recorded, never Kafka's committed offset."""
        return self.recorder.max_tracking_id(f"{topic}:{partition}") or 0

    def process_batch(self, messages: Sequence[Inbound]) -> bool:
        """One partition batch: see `process_partitions`."""
        return self.process_partitions([messages])[0]

    def process_partitions(self, batches: Sequence[Sequence[Inbound]]) -> list[bool]:
        """Apply one poll (a batch per partition) and record it with a tracking row per
        partition in one transaction: under a light load a poll brings a message or two
        from each of many partitions, and a transaction each was most of the cost.

        Returns, per batch, False when it had already been recorded (a redelivery after a
        rebalance); the others are recorded without it. Raises IntegrityError on a
        concurrent write to the same aggregate: the caller retries against fresh state.
        """
        todo = list(range(len(batches)))
        while todo:
            try:
                self.record_poll([batches[i] for i in todo])
                break
            except IntegrityError:
                fresh = [i for i in todo if not self._recorded(batches[i])]
                if len(fresh) == len(todo):
                    raise
                todo = fresh
        return [i in todo for i in range(len(batches))]

    def record_poll(self, batches: Sequence[Sequence[Inbound]]) -> None:
        """One attempt: every batch applied in order, then one transaction."""
        trackings = [_tracking(b) for b in batches]
        processing = BatchProcessing(tracking=trackings[0], more=trackings[1:])
        messages = [m for b in batches for m in b]
        processing.prefetch(self, self.batch_aggregate_ids(messages))
        for message in messages:
            self._apply(message, processing)
        recordings = self._record(processing)
        self.recent.keep(processing.touched())
        self._notify(recordings)

    def _recorded(self, batch: Sequence[Inbound]) -> bool:
        last = batch[-1]
        return self.tracked_position(last.topic, last.partition) > last.offset

    def _apply(self, message: Inbound, processing: ProcessingEvent[uuid.UUID]) -> None:
        if message.event is None:
            self._dead_letter(message, message.error or "unparseable", processing)
            return
        try:
            self.policy(message.event, processing)
        except DomainError as exc:
            # Valid contract, impossible content: the partition moves on, the letter stays.
            self._dead_letter(message, str(exc), processing)

    def _dead_letter(
        self, message: Inbound, error: str, processing: ProcessingEvent[uuid.UUID]
    ) -> None:
        event = message.event
        letter = DeadLetter(
            origin_topic=message.topic,
            origin_partition=message.partition,
            origin_offset=message.offset,
            error=error[:1000],
            event_type=event.event_type if event else message.event_type,
            event_id=str(event.event_id) if event else None,
        )
        processing.collect_events(letter)
        log.warning(
            "dead letter",
            extra={"origin": f"{message.topic}:{message.partition}:{message.offset}"},
        )

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        """The integration events this service reacts to. Every handler must be idempotent
        in effect (a republished event arrives at a new offset): check state first."""
        return {}

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        handler = self._handlers.get(type(domain_event))
        if handler is not None:  # events of no interest to this service are ignored
            handler(domain_event, processing_event)

    @property
    def _handlers(self) -> dict[type[IntegrationEvent], Handler]:
        if self._handler_cache is None:
            self._handler_cache = self.handlers()
        return self._handler_cache

    def load(self, aggregate_id: uuid.UUID, processing: ProcessingEvent[uuid.UUID]) -> Any:
        """An aggregate as this batch left it, else as stored: later messages in one
        batch must see what earlier ones changed. Raises AggregateNotFoundError."""
        pending = processing.aggregates.get(aggregate_id)
        if pending is not None:
            return pending
        if isinstance(processing, BatchProcessing) and aggregate_id in processing.asked:
            if aggregate_id not in processing.prefetched:
                raise AggregateNotFoundError(aggregate_id)
            return processing.prefetched[aggregate_id]
        return self.repository.get(aggregate_id)

    def exists(self, aggregate_id: uuid.UUID, processing: ProcessingEvent[uuid.UUID]) -> bool:
        if aggregate_id in processing.aggregates:
            return True
        if isinstance(processing, BatchProcessing) and aggregate_id in processing.asked:
            return aggregate_id in processing.prefetched
        return aggregate_id in self.repository

    def batch_aggregate_ids(self, messages: Sequence[Inbound]) -> set[uuid.UUID]:
        """The aggregates a batch will read, loaded in one query (prefetch.py). A service
        whose policy reads other aggregates (supervision's archives) adds their ids."""
        ids = (getattr(m.event, "case_id", None) for m in messages)  # channel messages: none
        return {i for i in ids if i is not None}

    # -- publishing ----------------------------------------------------------------------

    def outbox_position(self) -> int:
        return self.recorder.max_tracking_id(OUTBOX_TRACKING) or 0

    def mark_published(self, notification_id: int) -> None:
        self.recorder.insert_tracking(Tracking(OUTBOX_TRACKING, notification_id))

    def health_check(self) -> None:
        self.recorder.max_notification_id()
