"""Group commit: requests waiting together share one recording, each gets its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from shared.runtime.groupcommit import GroupCommit


class Recorder:
    """Records batches (on the group's worker thread); the first one blocks until `hold`
    is released, so the requests that arrive meanwhile must queue behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()
        self.started = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        first = not self.batches
        self.batches.append(list(items))
        if first:
            self.started.set()
            self.hold.wait(10)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def outcome(group: GroupCommit[int, int], i: int) -> object:
    try:
        return await group.submit(i)
    except ValueError as exc:
        return str(exc)


def submit_all(group: GroupCommit[int, int], recorder: Recorder,
               items: list[int]) -> dict[int, object]:
    """The first item leads a held recording; the others queue meanwhile; then release
    it and collect each request's outcome."""

    async def run() -> dict[int, object]:
        first = asyncio.create_task(outcome(group, items[0]))
        await asyncio.to_thread(recorder.started.wait, 10)
        rest = [asyncio.create_task(outcome(group, i)) for i in items[1:]]
        await asyncio.sleep(0)  # every other request is queued behind the recording
        assert len(group.waiting) == len(items) - 1
        recorder.hold.set()
        results = await asyncio.gather(first, *rest)
        return dict(zip(items, results, strict=True))

    return asyncio.run(run())


def test_requests_waiting_behind_a_recording_are_recorded_together() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder)
    results = submit_all(group, recorder, [0, 2, 4, 6, 8, 10])
    assert recorder.batches[0] == [0]
    assert recorder.batches[1] == [2, 4, 6, 8, 10]  # one recording for five
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
    assert recorder.batches == [[0], [2, 4], [6, 8]]
    assert results == {i: i * 10 for i in (0, 2, 4, 6, 8)}


def test_a_failed_recording_fails_every_request_of_its_batch_and_no_other() -> None:
    calls: list[list[int]] = []

    def record(items: Sequence[int]) -> list[int | Exception]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("database gone")
        return list(items)

    async def run() -> None:
        group: GroupCommit[int, int] = GroupCommit(record)
        with pytest.raises(RuntimeError, match="database gone"):
            await group.submit(1)
        assert await group.submit(2) == 2  # the next batch is recorded: nothing is stuck

    asyncio.run(run())


def test_a_request_given_up_is_still_recorded_and_the_others_answered() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder)

    async def run() -> object:
        first = asyncio.create_task(group.submit(0))
        await asyncio.to_thread(recorder.started.wait, 10)
        gone = asyncio.create_task(group.submit(2))
        kept = asyncio.create_task(group.submit(4))
        await asyncio.sleep(0)
        gone.cancel()  # the client disconnected while its report waited
        recorder.hold.set()
        await first
        return await kept

    assert asyncio.run(run()) == 40
    assert recorder.batches == [[0], [2, 4]]
