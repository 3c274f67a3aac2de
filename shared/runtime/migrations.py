"""Two roles on PostgreSQL: an owner that migrates, and a runtime role the services use.

The owner (`python -m govctl.migrate`) creates each service's schema, tables and the
append-only trigger exactly as a service does on a single-URL database, then grants the
runtime role what it needs: SELECT and INSERT on the stored events (never UPDATE, DELETE
or TRUNCATE), read and write on the service's other tables. The runtime role owns
nothing, so it can neither grant itself more nor ALTER or DROP a table.

eventsourcing serialises event inserts with LOCK TABLE ... IN EXCLUSIVE MODE, which
PostgreSQL allows only to a role holding UPDATE, DELETE or TRUNCATE. The runtime role
takes the same lock through a SECURITY DEFINER function of the owner instead, so the
insert order stays the commit order without giving it a rewrite privilege.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.sql import SQL, Identifier

from shared.runtime.recorders import PostgresPollRecorder

LOCK_FUNCTION = "lock_events_for_insert"
READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY = "SELECT, INSERT"


class RuntimeProcessRecorder(PostgresPollRecorder):
    """The process recorder of a service on a migrated database: same SQL, except that the
    events table is locked through the owner's function (the runtime role may not)."""

    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking") -> None:
        super().__init__(datastore, events_table_name=events_table_name,
                         tracking_table_name=tracking_table_name)
        set_timeout = self.lock_table_statements[0]
        self.lock_table_statements = [
            set_timeout,
            SQL("SELECT {0}.{1}()").format(Identifier(datastore.schema),
                                           Identifier(LOCK_FUNCTION)),
        ]


def grant_service(conn: Connection[Any], schema: str, role: str,
                  event_tables: Sequence[str]) -> None:
    """Give `role` a service's schema: stored events append-only, the rest read-write.
    Idempotent; one transaction, serialised with other migrators of the same schema."""
    s, r = Identifier(schema), Identifier(role)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"grants:{schema}",))
    conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
    conn.execute(SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r))
    for table in tables_of(conn, schema):
        privileges = APPEND_ONLY if table in event_tables else READ_WRITE
        conn.execute(SQL(f"GRANT {privileges} ON {{}}.{{}} TO {{}}")
                     .format(s, Identifier(table), r))
    conn.execute(SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r))
    for table in event_tables:
        install_insert_lock(conn, schema, table, role)


def install_insert_lock(conn: Connection[Any], schema: str, table: str, role: str) -> None:
    """The owner's function that takes eventsourcing's insert lock for `role`."""
    fn = SQL("{}.{}").format(Identifier(schema), Identifier(LOCK_FUNCTION))
    conn.execute(SQL("""CREATE OR REPLACE FUNCTION {fn}() RETURNS void LANGUAGE plpgsql
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$ BEGIN LOCK TABLE {table} IN EXCLUSIVE MODE; END $$""")
                 .format(fn=fn, table=SQL("{}.{}").format(Identifier(schema),
                                                          Identifier(table))))
    conn.execute(SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(fn))
    conn.execute(SQL("GRANT EXECUTE ON FUNCTION {}() TO {}").format(fn, Identifier(role)))


def tables_of(conn: Connection[Any], schema: str) -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1",
                        (schema,)).fetchall()
    return [r[0] for r in rows]
