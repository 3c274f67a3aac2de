"""A tail of a service's own log takes the events handed to it as a run that continues its
position, and reads the store for the rest: nothing skipped, nothing taken twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.dedup.application import DedupApplication
from shared.runtime.settings import ServiceSettings
from shared.runtime.tail import LogTail
from tests.unit.test_exactly_once_batches import batch, reported


def recorded(app: DedupApplication, n: int) -> list[Any]:
    """Record report `n`; what the recording handed on."""
    got: list[list[Any]] = []
    app.on_recorded.append(got.append)
    app.process_batch(batch([reported(n)], first_offset=n))
    app.on_recorded.remove(got.append)
    return got[0]


def ids(recordings: list[Any]) -> list[int]:
    return [r.notification.id for r in recordings]


def test_a_handed_run_is_taken_without_the_store_and_a_gap_sends_it_there(
        tmp_path: Path) -> None:
    app = DedupApplication(ServiceSettings(service_name="dedup", data_dir=tmp_path))
    tail = LogTail(app)
    first = recorded(app, 0)  # before the tail was handed anything: e.g. another instance
    second, third = recorded(app, 1), recorded(app, 2)
    start = ids(first)[-1]
    tail.hand(third)
    assert tail.handed_after(start, 100) is None  # the second is due and was not handed
    assert tail.pending(start)  # so a reader of its own writes must read on
    tail.hand(second)
    last, events = tail.handed_after(start, 100) or (start, [])
    assert last == ids(third)[-1]
    assert events == [r.domain_event for r in second + third]
    assert not tail.pending(last)
    assert tail.handed_after(last, 100) is None  # taken once

    # From the start, the store is read; what was handed and read is dropped, not retaken.
    tail.hand(second)
    last, events = tail.after(0, 100)
    assert last == ids(third)[-1]
    assert [type(e).__qualname__ for e in events] == [
        type(r.domain_event).__qualname__ for r in first + second + third]
    assert tail.handed_after(last, 100) is None and not tail.pending(last)


def test_only_wanted_topics_come_out_and_the_position_passes_the_rest(tmp_path: Path) -> None:
    app = DedupApplication(ServiceSettings(service_name="dedup", data_dir=tmp_path))
    tail = LogTail(app, wanted=lambda topic: topic.endswith("Nothing.Such"))
    handed = recorded(app, 0)
    tail.hand(handed)
    assert tail.after(0, 100) == (ids(handed)[-1], [])
    assert tail.read_after(0, 100) == (ids(handed)[-1], [])


def test_a_tail_too_far_behind_forgets_and_reads_the_store(tmp_path: Path) -> None:
    app = DedupApplication(ServiceSettings(service_name="dedup", data_dir=tmp_path))
    tail = LogTail(app, keep=2)
    for n in range(3):
        tail.hand(recorded(app, n))
    assert not tail.handed and tail.handed_after(0, 100) is None
    last, events = tail.after(0, 100)
    assert last == app.recorder.max_notification_id() and len(events) >= 3
