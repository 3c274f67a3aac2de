"""The two-role configuration, without a database: what a migrated service asks of
eventsourcing, and which read-model tables row-level security covers (the policies
themselves are proven on PostgreSQL in tests/e2e/test_row_level_security.py)."""

from __future__ import annotations

from pathlib import Path

from eventsourcing.utils import resolve_topic

from services.projections import rls
from services.projections import tables as t
from shared.runtime.migrations import RuntimeProcessRecorder
from shared.runtime.recorders import PostgresPollRecorder, SQLitePollRecorder
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import persistence_env


def test_a_migrated_service_creates_nothing_and_locks_through_the_owners_function(
        tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="dispatch", data_dir=tmp_path,
                               database_url="postgresql://gov_service:pw@127.0.0.1:1/gov",
                               database_migrated=True)
    env = persistence_env(settings)  # connects to nothing when migrated
    assert env["CREATE_TABLE"] == "n"
    assert env["POSTGRES_USER"] == "gov_service" and env["POSTGRES_SCHEMA"] == "dispatch"
    assert resolve_topic(env["PROCESS_RECORDER_TOPIC"]) is RuntimeProcessRecorder
    assert issubclass(RuntimeProcessRecorder, PostgresPollRecorder)  # whole polls too


def test_sqlite_creates_its_tables_and_records_whole_polls(tmp_path: Path) -> None:
    env = persistence_env(ServiceSettings(service_name="dispatch", data_dir=tmp_path))
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite" and env["CREATE_TABLE"] == "y"
    assert resolve_topic(env["PROCESS_RECORDER_TOPIC"]) is SQLitePollRecorder


def test_the_writer_url_serves_only_the_writer() -> None:
    settings = ServiceSettings(database_url="postgresql://r:p@h/db",
                               database_writer_url="postgresql://w:p@h/db")
    assert settings.sqlalchemy_url() == "postgresql+psycopg://r:p@h/db"
    assert settings.sqlalchemy_url(writer=True) == "postgresql+psycopg://w:p@h/db"
    single = ServiceSettings(database_url="postgresql://o:p@h/db")
    assert single.sqlalchemy_url(writer=True) == single.sqlalchemy_url()


def test_every_table_keyed_by_area_or_case_is_behind_the_wall() -> None:
    secured = {table.name for table in rls.secured_tables()}
    assert {t.cases.name, t.counts.name, t.daily.name, t.case_events.name,
            t.aliases.name} <= secured
    assert t.tracking.name not in secured and t.dead_letters.name not in secured
    for table in t.metadata.sorted_tables:
        if "area" in table.c or "area_path" in table.c:
            assert table.name in secured, table.name


def test_policies_compare_paths_to_the_scope_and_never_match_without_one() -> None:
    cases = rls.visible_rows("projections", t.cases).as_string(None)
    assert "current_setting('gov.scope', true)" in cases and "nullif" in cases
    events = rls.visible_rows("projections", t.case_events).as_string(None)
    assert '"projections"."rm_cases"' in events  # visible with their case
    daily = rls.visible_rows("projections", t.daily).as_string(None)
    assert "split_part" in daily  # the city's baseline rows for hotspots
