"""Two writers of one read model on PostgreSQL (two projections instances, or two rebuild
workers), each applying a message about the same case at the same moment: the case keeps
both changes (its counts with it), and a report merged by one writer while the other
records it ends merged, listed nowhere else."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from services.projections import batch as batch_module
from services.projections import tables as t
from services.projections.aggregates import totals
from services.projections.queries import CaseFilter
from services.projections.readmodel import CaseReadModel
from shared.events import Channel
from shared.events.dedup import ReportMerged
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound
from tests.unit.test_projections_readmodel import (
    CITY,
    GRID_A1,
    closed_story,
    dispatched,
    envelope,
    overdue,
    registered,
    reported,
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


def race(monkeypatch: pytest.MonkeyPatch, first: tuple[CaseReadModel, Inbound],
         second: tuple[CaseReadModel, Inbound]) -> None:
    """The first writer loads what its message changes, then waits while the second
    applies its own message (or, once the first holds the case, waits for it)."""
    loaded, go_on = threading.Event(), threading.Event()
    preload = batch_module.Batch.preload

    def preload_then_wait(self: batch_module.Batch, events: Any) -> None:
        preload(self, events)
        if threading.current_thread().name == "first":
            loaded.set()
            go_on.wait(10)

    monkeypatch.setattr(batch_module.Batch, "preload", preload_then_wait)
    late = threading.Thread(name="first", target=first[0].process_batch, args=([first[1]],))
    late.start()
    assert loaded.wait(10)
    other = threading.Thread(name="second", target=second[0].process_batch,
                             args=([second[1]],))
    other.start()
    other.join(1.0)  # done, or waiting for the first writer
    go_on.set()
    late.join(10)
    other.join(10)
    assert not late.is_alive() and not other.is_alive()


def test_two_writers_changing_one_case_at_once_keep_both_changes(
        models: tuple[CaseReadModel, CaseReadModel], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = models
    case = uuid.uuid4()
    first.process_batch([Inbound("gov.dedup.events", 0, 0, registered(case, GRID_A1))])
    first.process_batch([Inbound("gov.dispatch.events", 0, 0, dispatched(case, GRID_A1))])
    race(monkeypatch, (first, Inbound("gov.supervision.events", 0, 0, overdue(case))),
         (second, Inbound("gov.dispatch.events", 0, 1, closed_story(case)[0])))

    row = first.get_case(case, CITY)
    assert row is not None
    assert (row["status"], row["overdue"]) == ("signed_for", True)
    rows = first.list_cases(CaseFilter(area=CITY), limit=10)[1]
    assert stored_counts(first) == {k: v for k, v in totals(rows).counts.items() if v}


def test_a_report_merged_while_another_writer_records_it_is_listed_once(
        models: tuple[CaseReadModel, CaseReadModel], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = models
    case, report = uuid.uuid4(), uuid.uuid4()
    first.process_batch([Inbound("gov.dedup.events", 0, 0, registered(case, GRID_A1))])
    merged = ReportMerged(**envelope(case, "dedup", reported(report, GRID_A1).occurred_at),
                          report_id=report, report_case_id=report,
                          channel=Channel.HOTLINE_12345)
    race(monkeypatch, (first, Inbound("gov.dedup.events", 0, 1, merged)),
         (second, Inbound("gov.intake.events", 3, 0, reported(report, GRID_A1))))

    with first.engine.connect() as c:
        listed = set(c.execute(select(t.cases.c.case_id)).scalars())
        hidden = set(c.execute(select(t.merged_cases.c.case_id)).scalars())
    assert (listed, hidden) == ({str(case)}, {str(report)})
    assert first.get_case(report, CITY)["case_id"] == str(case)  # type: ignore[index]
    rows = first.list_cases(CaseFilter(area=CITY), limit=10)[1]
    assert stored_counts(first) == {k: v for k, v in totals(rows).counts.items() if v}
