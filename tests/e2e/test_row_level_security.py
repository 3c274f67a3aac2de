"""The database's own walls, on the real PostgreSQL with the two roles the stack runs on:
the services' runtime role owns nothing, appends to stored events but never rewrites
them, and reads the case read models only under the caller's place, whatever SQL it
sends (row-level security: the second wall behind the HTTP scope checks)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine

from govctl.migrate import migrate_read_model
from govctl.processes import Stack, postgres_roles
from services.projections import tables as t
from services.projections.queries import CaseFilter
from services.projections.readmodel import CaseReadModel
from shared.runtime.settings import ServiceSettings, postgres_sqlalchemy_url
from shared.runtime.store import schema_name
from tests.e2e.conftest import PG_ENV, auth, eventually

pytestmark = pytest.mark.e2e

CITY = "350300"
TOWN_A, TOWN_B = "350300/350302/350302001", "350300/350302/350302002"
GRID_A, GRID_B = f"{TOWN_A}/350302001001", f"{TOWN_B}/350302002001"
EVENT_SCHEMAS = ("intake", "dedup", "dispatch", "supervision")


@pytest.fixture(scope="module")
def roles(postgres_url: str) -> dict[str, str]:
    """owner, service (the reader) and projector (the writer) URLs."""
    owner, database = postgres_roles(PG_ENV)
    return {"owner": owner, "service": database["DATABASE_URL"],
            "projector": database["GOV_DATABASE_WRITER_URL"]}


@pytest.fixture(scope="module")
def read_model(roles: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """A read model of its own, migrated like the live one, with a case in each town:
    schema, and case id by town."""
    name = f"rls-{uuid.uuid4().hex[:8]}"
    migrate_read_model(roles["owner"], name)
    schema = schema_name(name)
    writer = create_engine(postgres_sqlalchemy_url(roles["projector"]),
                           connect_args={"options": f"-csearch_path={schema}"})
    ids = {TOWN_A: str(uuid.uuid4()), TOWN_B: str(uuid.uuid4())}
    with writer.begin() as c:
        for town, grid in ((TOWN_A, GRID_A), (TOWN_B, GRID_B)):
            add_case(c, ids[town], grid)
        c.execute(t.counts.insert(), [
            {"area": area, "dim": "total", "key": "", "depth": area.count("/") + 1, "n": 1}
            for area in (CITY, TOWN_A, TOWN_B)])
        c.execute(t.daily.insert(), [
            {"area": area, "day": "2026-11-24", "category": "urban.garbage",
             "depth": area.count("/") + 1, "reported": 1, "closed": 0}
            for area in (CITY, TOWN_A, TOWN_B)])
    writer.dispose()
    yield schema, ids
    with psycopg.connect(roles["owner"], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def add_case(c: Any, case_id: str, area_path: str) -> None:
    c.execute(t.cases.insert().values(case_id=case_id, status="registered",
                                      area_path=area_path))
    c.execute(t.aliases.insert().values(report_case_id=str(uuid.uuid4()), case_id=case_id))
    c.execute(t.case_events.insert().values(
        event_id=str(uuid.uuid4()), case_id=case_id, event_type="case.registered",
        producer="dedup", occurred_at=datetime.now(UTC), origin="test:0:0", payload={}))


def read(url: str, sql: str, scope: str | None) -> list[tuple[Any, ...]]:
    """One read transaction as `url`'s role, with the scope a query function would set."""
    with psycopg.connect(url) as conn:
        if scope is not None:
            conn.execute("SELECT set_config('gov.scope', %s, true)", (scope,))
        return conn.execute(sql).fetchall()


def test_a_town_sees_none_of_another_towns_rows_without_any_where_clause(
        roles: dict[str, str], read_model: tuple[str, dict[str, str]]) -> None:
    schema, ids = read_model
    for scope, own, other in ((TOWN_A, ids[TOWN_A], ids[TOWN_B]),
                              (TOWN_B, ids[TOWN_B], ids[TOWN_A])):
        cases = read(roles["service"], f'SELECT case_id FROM "{schema}".rm_cases', scope)
        assert [r[0] for r in cases] == [own]
        events = read(roles["service"], f'SELECT case_id FROM "{schema}".rm_case_events',
                      scope)
        assert {r[0] for r in events} == {own} and other not in {r[0] for r in events}
        counts = read(roles["service"], f'SELECT area FROM "{schema}".rm_counts', scope)
        assert [r[0] for r in counts] == [scope]  # not the other town, not the city
        aliases = read(roles["service"], f'SELECT case_id FROM "{schema}".rm_case_aliases',
                       scope)
        assert [r[0] for r in aliases] == [own]
        daily = read(roles["service"], f'SELECT area FROM "{schema}".rm_daily', scope)
        assert {r[0] for r in daily} == {scope, CITY}  # the city: the hotspot baseline
    city = read(roles["service"], f'SELECT case_id FROM "{schema}".rm_cases', CITY)
    assert {r[0] for r in city} == set(ids.values())


def test_the_application_reading_by_id_alone_still_meets_the_wall(
        roles: dict[str, str], read_model: tuple[str, dict[str, str]]) -> None:
    """get_case selects by id with no area condition: the database answers for the area."""
    schema, ids = read_model
    model = CaseReadModel(ServiceSettings(
        service_name=schema, database_url=roles["service"], database_migrated=True,
        database_writer_url=roles["projector"]))
    try:
        assert model.get_case(uuid.UUID(ids[TOWN_B]), TOWN_A) is None
        assert model.case_file(uuid.UUID(ids[TOWN_B]), TOWN_A) == []
        assert model.get_case(uuid.UUID(ids[TOWN_A]), TOWN_A) is not None
        assert model.get_case(uuid.UUID(ids[TOWN_A])) is None  # no scope: nothing
        total, rows = model.list_cases(CaseFilter(area=TOWN_B))
        assert total == 1 and rows[0]["case_id"] == ids[TOWN_B]
        assert model.event_count() == 2  # the writer sees every area
    finally:
        model.close()


@pytest.mark.parametrize("scope", [None, ""])
def test_without_a_scope_the_reader_sees_nothing(
        roles: dict[str, str], read_model: tuple[str, dict[str, str]],
        scope: str | None) -> None:
    schema, _ = read_model
    for table in ("rm_cases", "rm_case_events", "rm_counts", "rm_daily", "rm_case_aliases"):
        sql = f'SELECT count(*) FROM "{schema}".{table}'
        assert read(roles["service"], sql, scope) == [(0,)], table
    assert read(roles["projector"], f'SELECT count(*) FROM "{schema}".rm_cases', None) == [(2,)]
    # The owner has no policy either: FORCE puts it behind the wall too.
    assert read(roles["owner"], f'SELECT count(*) FROM "{schema}".rm_cases', None) == [(0,)]


def test_the_reader_cannot_write_and_neither_role_can_lift_the_wall(
        roles: dict[str, str], read_model: tuple[str, dict[str, str]]) -> None:
    schema, _ = read_model
    cases = f'"{schema}".rm_cases'
    lift = (f"ALTER TABLE {cases} DISABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {cases} NO FORCE ROW LEVEL SECURITY",
            f"DROP POLICY scoped_read ON {cases}", f"DROP TABLE {cases}")
    for sql in (f"UPDATE {cases} SET status = 'closed'", f"DELETE FROM {cases}",
                f"TRUNCATE {cases}", f"INSERT INTO {cases} (case_id, status) VALUES ('x', 'y')",
                f'SELECT * FROM "{schema}".rm_tracking', *lift):
        assert_refused(roles["service"], sql)
    for sql in lift:
        assert_refused(roles["projector"], sql)


def assert_refused(url: str, sql: str) -> None:
    """Refused as a privilege: no grant (data) or not the owner (DDL), never a trigger."""
    with psycopg.connect(url) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        conn.execute(sql)
    expected = "must be owner" if sql.startswith(("ALTER", "DROP")) else "permission denied"
    assert expected in str(refused.value), (sql, str(refused.value))


def events_table(owner_url: str, schema: str) -> str:
    rows = read(owner_url, "SELECT tablename FROM pg_tables WHERE schemaname = "
                f"'{schema}' AND tablename LIKE '%\\_events'", None)
    assert len(rows) == 1, rows
    return f'"{schema}"."{rows[0][0]}"'


@pytest.mark.parametrize("schema", EVENT_SCHEMAS)
def test_the_runtime_role_appends_stored_events_but_cannot_rewrite_or_reshape_them(
        stack: Stack, roles: dict[str, str], schema: str) -> None:
    table = events_table(roles["owner"], schema)
    # Refused as a privilege, before the append-only trigger is even reached.
    for sql in (f"UPDATE {table} SET topic = topic", f"DELETE FROM {table}",
                f"TRUNCATE {table}", f"DROP TABLE {table}",
                f"ALTER TABLE {table} DISABLE TRIGGER append_only",
                f"ALTER TABLE {table} ADD COLUMN x int",
                f'CREATE TABLE "{schema}".intruder (x int)', "CREATE SCHEMA intruder"):
        assert_refused(roles["service"], sql)
    held = read(roles["service"], "SELECT " + ", ".join(
        f"has_table_privilege('{table}', '{p}')" for p in
        ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")), None)
    assert held == [(True, True, False, False, False)]


def test_the_stack_on_two_roles_writes_every_area_and_reads_each_callers_own(
        stack: Stack, roles: dict[str, str]) -> None:
    """A case reported through the running services lands in the live read model, seen
    from its own town and not from the next one, by SQL with no WHERE clause at all."""
    grid = "350302001002002"  # in town A; a place and problem no other test reports
    worker = auth("gw-rls", "grid_worker", grid, "网格员")
    r = httpx.post(f"{stack.url('intake')}/api/reports", headers=worker, timeout=10,
                   json={"external_ref": f"rls-{uuid.uuid4()}", "category": "urban.graffiti",
                         "description": "围墙被人乱涂乱画，行级安全测试", "unit_code": grid + "001"})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    leader = auth("l-rls", "leader", "350300")
    eventually(lambda: httpx.get(f"{stack.url('projections')}/api/cases/{case_id}",
                                 headers=leader, timeout=10).status_code == 200, timeout=90)

    def live(scope: str | None) -> set[str]:
        return {r[0] for r in read(roles["service"],
                                   "SELECT case_id FROM projections.rm_cases", scope)}

    assert case_id in live(TOWN_A)
    assert case_id not in live(TOWN_B)
    assert live(None) == set()
    town_b = auth("l-rls-b", "leader", "350302002")
    assert httpx.get(f"{stack.url('projections')}/api/cases/{case_id}", headers=town_b,
                     timeout=10).status_code == 404
    # Every service is connected, and none of them as the owner. Only sessions with a
    # user: an autovacuum worker on this database has none (seen in CI), and the owner,
    # not a superuser, is not shown other roles' backend_type.
    sessions = read(roles["owner"], "SELECT DISTINCT usename FROM pg_stat_activity WHERE "
                    "datname = current_database() AND usename IS NOT NULL "
                    "AND pid <> pg_backend_pid()", None)
    assert {r[0] for r in sessions} == {"gov_service", "gov_projector"}
