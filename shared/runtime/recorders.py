"""eventsourcing's process recorders, recording a whole poll: the events and one tracking
row per partition the poll read, in one transaction (ServiceApplication.record_poll).

eventsourcing records the one `tracking` a processing event carries; the rows of the
poll's other partitions come as `more_tracking` and are written the same way, by the
same statement, so each still refuses to move backwards (a redelivery).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder


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
    pass


class SQLitePollRecorder(_MoreTracking, SQLiteProcessRecorder):
    pass


POSTGRES = f"{__name__}:PostgresPollRecorder"
SQLITE = f"{__name__}:SQLitePollRecorder"
