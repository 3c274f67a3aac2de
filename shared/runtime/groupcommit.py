"""Group commit: requests that arrive together are recorded in one transaction.

Every HTTP report used to be its own transaction: a lookup, the events table's insert lock,
a WAL flush at commit. Under load the requests queued for that lock one by one. Here a
request that finds no recording under way starts one: it takes what is waiting (up to
`limit`), records it with `record_many` on a worker thread, hands each request its own
outcome, and goes on while requests are waiting. Alone, a request is its own batch at
once (no timer, no added latency); under load the batches grow by themselves.

Requests wait on the event loop, not on threads: a thread per waiting request (FastAPI's
sync routes) spent more on handing the GIL between them than on the reports themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(self, record_many: Callable[[Sequence[T]], Sequence[R | Exception]],
                 limit: int = 200) -> None:
        self.record_many = record_many
        self.limit = limit
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.recording: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Record `item` with whatever waits beside it; its outcome, or raise its error."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, done))
        if self.recording is None or self.recording.done():
            self.recording = asyncio.create_task(self._record_while_waiting())
        # Shielded: a request given up (client gone) is still recorded with its batch.
        return await asyncio.shield(done)

    async def _record_while_waiting(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:self.limit], self.waiting[self.limit:]
            try:
                outcomes = await asyncio.to_thread(self.record_many, [i for i, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: each request says so
                outcomes = [exc] * len(batch)
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if isinstance(outcome, Exception):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)
