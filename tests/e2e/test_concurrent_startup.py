"""Instances of one service started at the same moment share one schema without failing.

CI once lost a scale-out test to PostgreSQL's 'tuple concurrently updated' when three
dedup instances created their tables together; setup is now serialised per schema."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.dedup.application import DedupApplication
from services.intake.application import IntakeApplication
from shared.runtime.settings import ServiceSettings


def _start_together(cls: type, postgres_url: str, tmp_path: Path, n: int = 4) -> None:
    name = f"startup_{cls.__name__.lower()}_{uuid.uuid4().hex[:8]}"  # a fresh schema
    settings = ServiceSettings(service_name=name, database_url=postgres_url, data_dir=tmp_path)
    with ThreadPoolExecutor(n) as pool:
        apps = list(pool.map(lambda _: cls(settings), range(n)))
    try:
        assert len({id(a.recorder) for a in apps}) == n
        assert all(a.recorder.max_notification_id() in (None, 0) for a in apps)
    finally:
        for app in apps:
            app.close()


def test_dedup_instances_starting_together_all_start(postgres_url: str, tmp_path: Path) -> None:
    _start_together(DedupApplication, postgres_url, tmp_path)


def test_intake_instances_starting_together_all_start(postgres_url: str, tmp_path: Path) -> None:
    _start_together(IntakeApplication, postgres_url, tmp_path)
