"""Group commit: requests that arrive together are recorded in one transaction.

Every HTTP report used to be its own transaction: a lookup, the events table's insert lock,
a WAL flush at commit. Under load the requests queued for that lock one by one. Here the
first request thread that finds no batch being recorded leads: it takes what is waiting
(up to `limit`), records it with `record_many`, hands each request its own outcome, and
steps down; a request still waiting then leads the next batch. Alone, a request is its own
batch at once (no timer, no added latency); under load the batches grow by themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Waiting(Generic[T, R]):
    item: T
    done: bool = False
    outcome: object = field(default=None)


class GroupCommit(Generic[T, R]):
    def __init__(self, record_many: Callable[[Sequence[T]], Sequence[R | Exception]],
                 limit: int = 200) -> None:
        self.record_many = record_many
        self.limit = limit
        self.cond = threading.Condition()
        self.waiting: list[_Waiting[T, R]] = []
        self.leading = False

    def submit(self, item: T) -> R:
        """Record `item` with whatever waits beside it; its outcome, or raise its error."""
        me: _Waiting[T, R] = _Waiting(item)
        with self.cond:
            self.waiting.append(me)
        while True:
            with self.cond:
                while self.leading and not me.done:
                    self.cond.wait()
                if me.done:
                    return self._result(me)
                self.leading = True
                batch, self.waiting = self.waiting[:self.limit], self.waiting[self.limit:]
            self._record(batch)

    def _record(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            outcomes: Sequence[R | Exception] = self.record_many([w.item for w in batch])
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: each request says so
            outcomes = [exc] * len(batch)
        with self.cond:
            for w, outcome in zip(batch, outcomes, strict=True):
                w.outcome, w.done = outcome, True
            self.leading = False
            self.cond.notify_all()

    @staticmethod
    def _result(me: _Waiting[T, R]) -> R:
        if isinstance(me.outcome, Exception):
            raise me.outcome
        return me.outcome  # type: ignore[return-value]
