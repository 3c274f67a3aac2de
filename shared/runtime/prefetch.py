"""Load every aggregate a batch will touch in one query instead of one per message.

A consumed batch of 500 messages used to ask the store once per message whether its case
exists and once more to load it: a database round trip each. `prefetch` reads the stored
events of all the batch's aggregates in one statement and rebuilds them; the batch then
works on those objects, and a conflict with a concurrent writer still surfaces as the
IntegrityError of the batch's single recording transaction (the batch is retried).

`RecentAggregates` keeps the aggregates a consumer last recorded: a case's next event
usually arrives within seconds, and its aggregate is then caught up from the version
this process left it at instead of replayed from its first event (a case archive of ten
entries was decoded again for every entry added).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.sqlite import SQLiteRecorder


def prefetch(recorder: Any, mapper: Mapper[uuid.UUID], ids: Collection[uuid.UUID],
             known: Mapping[uuid.UUID, Any] | None = None) -> dict[uuid.UUID, Any]:
    """The current state of each aggregate in `ids` that exists (absent ones are left out).

    `known` holds some of them at an earlier state: only their later events are read and
    applied to those objects (which are changed in place)."""
    if not ids:
        return {}
    known = known or {}
    after = {i: known[i].version if i in known else 0 for i in ids}
    rows = _select_many(recorder, after)
    out: dict[uuid.UUID, Any] = {i: known[i] for i in ids if i in known}
    for originator_id, stored in rows.items():
        aggregate = out.get(originator_id)
        for s in stored:  # eventsourcing's project_aggregate, less its assert per event
            aggregate = mapper.to_domain_event(s).mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is not None:
            out[originator_id] = aggregate
    return out


class RecentAggregates:
    """The aggregates this process recorded last, least recently used dropped first.

    `take` hands them out and forgets them, `keep` takes them back once their changes are
    recorded: an object a failed transaction changed is never kept. Another writer's later
    events are no harm: `prefetch` reads whatever follows the kept version."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[uuid.UUID, Any] = OrderedDict()

    def take(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        with self._lock:
            return {i: self._kept.pop(i) for i in ids if i in self._kept}

    def keep(self, aggregates: Iterable[Any]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            for aggregate in aggregates:
                if aggregate.pending_events:  # changed, not recorded: ahead of the store
                    self._kept.pop(aggregate.id, None)
                    continue
                self._kept[aggregate.id] = aggregate
                self._kept.move_to_end(aggregate.id)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


def _select_many(recorder: Any, after: dict[uuid.UUID, int]
                 ) -> dict[uuid.UUID, list[StoredEvent]]:
    """Each aggregate's stored events after the given version, in order."""
    table = getattr(recorder, "events_table_name", None)
    datastore = getattr(recorder, "datastore", None)
    if table is None or datastore is None:  # in-memory stores (unit tests): one by one
        return {i: list(recorder.select_events(i, gt=v or None)) for i, v in after.items()}
    if isinstance(recorder, SQLiteRecorder):
        return _select_sqlite(recorder, datastore, table, after)
    return _select_postgres(datastore, table, after)


def _select_postgres(datastore: Any, table: str, after: dict[uuid.UUID, int]
                     ) -> dict[uuid.UUID, list[StoredEvent]]:
    from psycopg.sql import SQL, Identifier

    statement = SQL("SELECT e.originator_id, e.originator_version, e.topic, e.state "
                    "FROM {}.{} e JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, after) "
                    "ON e.originator_id = k.id AND e.originator_version > k.after "
                    "ORDER BY e.originator_id, e.originator_version"
                    ).format(Identifier(datastore.schema), Identifier(table))
    out: dict[uuid.UUID, list[StoredEvent]] = defaultdict(list)
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (list(after), list(after.values())), prepare=True)
        for row in curs.fetchall():
            out[row["originator_id"]].append(StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"], state=bytes(row["state"])))
    return out


def _select_sqlite(recorder: Any, datastore: Any, table: str, after: dict[uuid.UUID, int]
                   ) -> dict[uuid.UUID, list[StoredEvent]]:
    ids = list(after)
    out: dict[uuid.UUID, list[StoredEvent]] = defaultdict(list)
    with datastore.transaction(commit=False) as c:
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            c.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                      f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                      "ORDER BY originator_id, originator_version", [i.hex for i in chunk])
            for row in c.fetchall():
                originator_id = recorder.convert_originator_id(row["originator_id"])
                if row["originator_version"] <= after[originator_id]:
                    continue  # the caller has it up to there
                out[originator_id].append(StoredEvent(
                    originator_id=originator_id,
                    originator_version=row["originator_version"],
                    topic=row["topic"], state=row["state"]))
    return out
