"""eventsourcing's process recorders, recording a whole poll: the events and one tracking
row per partition the poll read, in one transaction (ServiceApplication.record_poll).

eventsourcing records the one `tracking` a processing event carries; the rows of the
poll's other partitions come as `more_tracking` and are written the same way, by the
same statement, so each still refuses to move backwards (a redelivery).

On PostgreSQL the events go in as four typed arrays in binary, not as eventsourcing's one
array of a composite type: psycopg dumps a composite in Python and in text (each state's
bytes hex-escaped), which was a sixth of what supervision spent in a drain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier


class _MoreTracking:
    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)  # type: ignore[misc]
        more: Sequence[Tracking] = kwargs.get("more_tracking", ())
        for tracking in more:
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]
        return returning


# PostgreSQL's _insert_events returns None (its ids come after the pipeline's sync).
class PostgresPollRecorder(_MoreTracking, PostgresProcessRecorder):  # type: ignore[misc]
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id").format(
                schema=Identifier(datastore.schema), table=Identifier(self.events_table_name),
                id_type=Identifier(datastore.originator_id_type))

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                              **_: Any) -> None:
        """eventsourcing's insert (lock, notify, insert returning the notification ids in
        order), its events sent column by column."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_columns_statement, (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events]), binary=True)


class SQLitePollRecorder(_MoreTracking, SQLiteProcessRecorder):
    pass


POSTGRES = f"{__name__}:PostgresPollRecorder"
SQLITE = f"{__name__}:SQLitePollRecorder"
