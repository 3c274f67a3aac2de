"""Tailing a service's own notification log: the relay, and the indexes a service folds
from its own events (dedup's case index, supervision's timers, intake's report index).

Each tail is handed the events this process records as their transactions commit
(`ServiceApplication.on_recorded`), so it takes them without reading them back from the
store and decoding them again. The store stays the truth: a tail takes handed events only
as a run that continues its position without a gap, and reads the store whenever the
next event due was not handed to it (another instance recorded it, the tail fell behind,
or its id was never committed: a sequence gap). The recorders commit notification ids in
order (eventsourcing locks the events table for each insert), so a handed id is never
passed over by one committed later.

A tail sees its own process's writes as soon as they are handed; another instance's,
when it next reads the store (the relay's idle poll, the indexes' next refresh). Handed
events are the recorded objects themselves, shared by every tail: tails read them and
never change them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import Recording

from shared.runtime.store import ServiceApplication


class LogTail:
    """Events after a position in `app`'s notification log: of `topics` when given (the
    store is then asked for those only), of every topic `wanted` accepts when given."""

    def __init__(self, app: ServiceApplication, *, topics: Sequence[str] = (),
                 wanted: Callable[[str], bool] | None = None, keep: int = 4000) -> None:
        self.app = app
        self.topics = tuple(topics)
        self.wanted = wanted
        self.keep = keep  # handed events held at most; past that the tail is behind
        self.handed: dict[int, tuple[str, Any]] = {}  # id -> (topic, domain event)
        self.lock = threading.Lock()

    def hand(self, recordings: Sequence[Recording[Any]]) -> None:
        """From the thread that recorded them, once committed."""
        with self.lock:
            for r in recordings:
                self.handed[r.notification.id] = (r.notification.topic, r.domain_event)
            if len(self.handed) > self.keep:
                self.handed.clear()  # behind: the store has them all

    def forget(self) -> None:
        with self.lock:
            self.handed.clear()

    def after(self, position: int, limit: int) -> tuple[int, list[Any]]:
        """(how far the tail has read, the wanted events after `position` up to there)."""
        return self.handed_after(position, limit) or self.read_after(position, limit)

    def runs(self, position: int, limit: int = 1000) -> Iterator[tuple[int, list[Any]]]:
        """`after`, again and again, until nothing follows: (how far, the wanted events)
        per step, for a reader that folds each step and then moves its position."""
        while True:
            last, events = self.after(position, limit)
            if last == position:
                return
            yield last, events
            position = last

    def handed_after(self, position: int, limit: int) -> tuple[int, list[Any]] | None:
        """As `after`, from handed events only, without I/O; None when the next event due
        was not handed (the store has to be read)."""
        with self.lock:
            for taken in [i for i in self.handed if i <= position]:
                del self.handed[taken]
            run: list[tuple[str, Any]] = []
            while position + 1 in self.handed and len(run) < limit:
                position += 1
                run.append(self.handed.pop(position))
        if not run:
            return None
        return position, [event for topic, event in run if self._wants(topic)]

    def pending(self, position: int) -> bool:
        """Handed events wait beyond `position` (past a gap that only the store fills):
        a reader that wants to see its own writes is not done yet."""
        with self.lock:
            return any(i > position for i in self.handed)

    def read_after(self, position: int, limit: int) -> tuple[int, list[Any]]:
        found = self.app.recorder.select_notifications(position + 1, limit,
                                                       topics=self.topics)
        if not found:
            return position, []
        return found[-1].id, [self.app.mapper.to_domain_event(n) for n in found
                              if self._wants(n.topic)]

    def _wants(self, topic: str) -> bool:
        return ((not self.topics or topic in self.topics)
                and (self.wanted is None or self.wanted(topic)))


def tail(app: ServiceApplication, **kwargs: Any) -> LogTail:
    """A tail of `app`'s log, handed everything `app` records from now on."""
    log = LogTail(app, **kwargs)
    app.on_recorded.append(log.hand)
    return log
