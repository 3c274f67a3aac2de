"""Row-level security on the read models: the second wall behind the HTTP scope checks.

Installed by the owner (`python -m govctl.migrate`) on a two-role database only; a
single-URL database (a developer's, SQLite) has none of it.

* the reader (the HTTP side, the services' runtime role) sees a row only when its area
  lies at or under `gov.scope`, a transaction-local setting the queries take from the
  caller (`queries.set_scope`). No scope, or an empty one, shows nothing: fail closed.
* the writer (the projector role, the consumer's sink and rebuilds) applies events for
  every area: a policy of its own lets it see and write every row. A role, not a magic
  scope value, so nothing the reader's connection can set widens what it sees.
* the owner has no policy: with FORCE it sees nothing either, unless it deliberately
  switches row-level security off (DDL).
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.sql import SQL, Composable, Identifier
from sqlalchemy import Table

from services.projections import tables as t

SCOPE = "nullif(current_setting('gov.scope', true), '')"
# A path at or under the scope, as the index range queries.within uses.
UNDER_SCOPE = (f"({{col}} = {SCOPE} OR ({{col}} > ({SCOPE} || '/') "
               f"AND {{col}} < ({SCOPE} || '0')))")
# The city's own daily rows: every area's hotspot baseline (aggregates, no case).
CITY_OF_SCOPE = f"{{col}} = split_part({SCOPE}, '/', 1)"


def area_column(table: Table) -> str | None:
    """The column that places a row in the hierarchy, if the table has one."""
    return next((name for name in ("area_path", "area") if name in table.c), None)


def secured_tables() -> list[Table]:
    """Every read-model table keyed by area or by case (tracking, dead letters are not)."""
    return [table for table in t.metadata.sorted_tables
            if area_column(table) or "case_id" in table.c]


def visible_rows(schema: str, table: Table) -> Composable:
    """The reader's policy expression for one table."""
    col = area_column(table)
    if col:
        expr = UNDER_SCOPE.format(col=col)
        if table is t.daily:
            expr = f"({expr} OR {CITY_OF_SCOPE.format(col=col)})"
        return SQL(expr)  # built from constants only
    # A case's events and aliases follow the case row, itself under the reader's policy.
    return SQL("EXISTS (SELECT 1 FROM {}.{} c WHERE c.case_id = {}.case_id)").format(
        Identifier(schema), Identifier(t.cases.name), Identifier(table.name))


def secure(conn: Connection[Any], schema: str, reader: str, writer: str) -> None:
    """Grant the read model to its reader and writer and put the policies on. Idempotent."""
    if reader == writer:  # the writer's policy would open every row to the readers
        raise ValueError(f"the read model's reader and writer must be two roles: {reader}")
    s = Identifier(schema)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"grants:{schema}",))
    for role in (reader, writer):
        conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, Identifier(role)))
        conn.execute(SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}")
                     .format(s, Identifier(role)))
    conn.execute(SQL("GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "
                     "{} TO {}").format(s, Identifier(writer)))
    conn.execute(SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}")
                 .format(s, Identifier(writer)))
    for table in secured_tables():
        _protect(conn, schema, table, reader, writer)


def _protect(conn: Connection[Any], schema: str, table: Table, reader: str, writer: str) -> None:
    target = SQL("{}.{}").format(Identifier(schema), Identifier(table.name))
    conn.execute(SQL("GRANT SELECT ON {} TO {}").format(target, Identifier(reader)))
    conn.execute(SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(target))
    conn.execute(SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(target))
    for name in ("scoped_read", "projector_all"):
        conn.execute(SQL("DROP POLICY IF EXISTS {} ON {}").format(Identifier(name), target))
    conn.execute(SQL("CREATE POLICY scoped_read ON {} FOR SELECT TO {} USING ({})")
                 .format(target, Identifier(reader), visible_rows(schema, table)))
    conn.execute(SQL("CREATE POLICY projector_all ON {} FOR ALL TO {} USING (true) "
                     "WITH CHECK (true)").format(target, Identifier(writer)))
