"""Two writers of one read model on PostgreSQL (two projections instances, or two rebuild
workers): each changes a different thing about the same case at the same moment, and the
case row keeps both changes, its counts with it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.projections import batch as batch_module
from services.projections.aggregates import totals
from services.projections.queries import CaseFilter
from services.projections.readmodel import CaseReadModel
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound
from tests.unit.test_projections_readmodel import (
    CITY,
    GRID_A1,
    closed_story,
    dispatched,
    overdue,
    registered,
    stored_counts,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def models(postgres_url: str) -> Iterator[tuple[CaseReadModel, CaseReadModel]]:
    settings = ServiceSettings(service_name=f"race_{uuid.uuid4().hex[:8]}",
                               database_url=postgres_url)
    pair = (CaseReadModel(settings), CaseReadModel(settings))
    yield pair
    for m in pair:
        m.close()


def test_two_writers_changing_one_case_at_once_keep_both_changes(
        models: tuple[CaseReadModel, CaseReadModel], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = models
    case = uuid.uuid4()
    first.process_batch([Inbound("gov.dedup.events", 0, 0, registered(case, GRID_A1))])
    first.process_batch([Inbound("gov.dispatch.events", 0, 0, dispatched(case, GRID_A1))])
    signed_for = closed_story(case)[0]

    # The first writer loads the case row, then waits while the second applies its event.
    loaded, go_on = threading.Event(), threading.Event()
    preload = batch_module.Batch.preload

    def preload_then_wait(self: batch_module.Batch, events: Any) -> None:
        preload(self, events)
        if threading.current_thread().name == "first":
            loaded.set()
            go_on.wait(10)

    monkeypatch.setattr(batch_module.Batch, "preload", preload_then_wait)
    late = threading.Thread(name="first", target=first.process_batch, args=(
        [Inbound("gov.supervision.events", 0, 0, overdue(case))],))
    late.start()
    assert loaded.wait(10)
    other = threading.Thread(name="second", target=second.process_batch, args=(
        [Inbound("gov.dispatch.events", 0, 1, signed_for)],))
    other.start()
    other.join(1.0)  # done, or waiting for the first writer's row
    go_on.set()
    late.join(10)
    other.join(10)

    row = first.get_case(case, CITY)
    assert row is not None
    assert (row["status"], row["overdue"]) == ("signed_for", True)
    rows = first.list_cases(CaseFilter(area=CITY), limit=10)[1]
    assert stored_counts(first) == {k: v for k, v in totals(rows).counts.items() if v}
