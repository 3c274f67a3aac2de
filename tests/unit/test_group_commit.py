"""Group commit: requests waiting together share one recording, each gets its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from shared.runtime.groupcommit import GroupCommit


class Recorder:
    """Records batches; the first one blocks until `hold` is released, so the requests
    that arrive meanwhile must queue behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        first = not self.batches
        self.batches.append(list(items))
        if first:
            self.hold.wait(10)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def submit_all(group: GroupCommit[int, int], recorder: Recorder,
               items: list[int]) -> dict[int, object]:
    """Submit every item from its own thread, the first one leading a held recording
    while the others queue; then release it and collect each thread's outcome."""
    results: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            results[i] = group.submit(i)
        except ValueError as exc:
            results[i] = str(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in items]
    threads[0].start()
    while not group.leading:  # the first request leads, and is held in its recording
        time.sleep(0.001)
    for t in threads[1:]:
        t.start()
    while len(group.waiting) < len(items) - 1:  # everyone else queued behind it
        time.sleep(0.001)
    recorder.hold.set()
    for t in threads:
        t.join(10)
    return results


def test_requests_waiting_behind_a_recording_are_recorded_together() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder)
    results = submit_all(group, recorder, [0, 2, 4, 6, 8, 10])
    assert recorder.batches[0] == [0]
    assert sorted(recorder.batches[1]) == [2, 4, 6, 8, 10]  # one recording for five
    assert len(recorder.batches) == 2
    assert results == {i: i * 10 for i in (0, 2, 4, 6, 8, 10)}


def test_each_request_gets_its_own_error_and_the_others_their_results() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder)
    results = submit_all(group, recorder, [2, 3, 4, 5])
    assert results == {2: 20, 3: "odd 3", 4: 40, 5: "odd 5"}


def test_a_batch_is_bounded_and_the_rest_follow_in_later_batches() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder, limit=2)
    results = submit_all(group, recorder, [0, 2, 4, 6, 8])
    assert [len(b) for b in recorder.batches] == [1, 2, 2]
    assert sorted(i for b in recorder.batches for i in b) == [0, 2, 4, 6, 8]
    assert results == {i: i * 10 for i in (0, 2, 4, 6, 8)}


def test_a_failed_recording_fails_every_request_of_its_batch_and_no_other() -> None:
    calls: list[list[int]] = []

    def record(items: Sequence[int]) -> list[int | Exception]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("database gone")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(record)
    with pytest.raises(RuntimeError, match="database gone"):
        group.submit(1)
    assert group.submit(2) == 2  # the next batch is recorded: nobody is left leading
