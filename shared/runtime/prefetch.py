"""Load every aggregate a batch will touch in one query instead of one per message.

A consumed batch of 500 messages used to ask the store once per message whether its case
exists and once more to load it: a database round trip each. `prefetch` reads the stored
events of all the batch's aggregates in one statement and rebuilds them; the batch then
works on those objects, and a conflict with a concurrent writer still surfaces as the
IntegrityError of the batch's single recording transaction (the batch is retried).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.sqlite import SQLiteRecorder


def prefetch(recorder: Any, mapper: Mapper[uuid.UUID], ids: Collection[uuid.UUID]
             ) -> dict[uuid.UUID, Any]:
    """The current state of each aggregate in `ids` that exists (absent ones are left out)."""
    if not ids:
        return {}
    rows = _select_many(recorder, list(ids))
    out: dict[uuid.UUID, Any] = {}
    for originator_id, stored in rows.items():
        aggregate = None
        for s in stored:  # eventsourcing's project_aggregate, less its assert per event
            aggregate = mapper.to_domain_event(s).mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is not None:
            out[originator_id] = aggregate
    return out


def _select_many(recorder: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[StoredEvent]]:
    table = getattr(recorder, "events_table_name", None)
    datastore = getattr(recorder, "datastore", None)
    if table is None or datastore is None:  # in-memory stores (unit tests): one by one
        return {i: list(recorder.select_events(i)) for i in ids}
    if isinstance(recorder, SQLiteRecorder):
        return _select_sqlite(recorder, datastore, table, ids)
    return _select_postgres(datastore, table, ids)


def _select_postgres(datastore: Any, table: str, ids: list[uuid.UUID]
                     ) -> dict[uuid.UUID, list[StoredEvent]]:
    from psycopg.sql import SQL, Identifier

    statement = SQL("SELECT originator_id, originator_version, topic, state FROM {}.{} "
                    "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
                    ).format(Identifier(datastore.schema), Identifier(table))
    out: dict[uuid.UUID, list[StoredEvent]] = defaultdict(list)
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (ids,), prepare=True)
        for row in curs.fetchall():
            out[row["originator_id"]].append(StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"], state=bytes(row["state"])))
    return out


def _select_sqlite(recorder: Any, datastore: Any, table: str, ids: list[uuid.UUID]
                   ) -> dict[uuid.UUID, list[StoredEvent]]:
    out: dict[uuid.UUID, list[StoredEvent]] = defaultdict(list)
    with datastore.transaction(commit=False) as c:
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            c.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                      f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                      "ORDER BY originator_id, originator_version", [i.hex for i in chunk])
            for row in c.fetchall():
                originator_id = recorder.convert_originator_id(row["originator_id"])
                out[originator_id].append(StoredEvent(
                    originator_id=originator_id,
                    originator_version=row["originator_version"],
                    topic=row["topic"], state=row["state"]))
    return out
