"""The outbox relay: the notification log, in order, to Kafka.

Publishes with an idempotent producer, keyed by case id, with the event id, type and
schema version in headers; records the last published notification id only after the
broker acknowledged. A crash in between republishes the same events with the same ids,
which consumers drop. One relay per event store holds a lease, so instances of a
service scaled out do not all publish.

The relay tails the log (`tail.LogTail`): what this process records is handed to it as
it commits, and published without being read back; the rest is read from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import IntegrityError, Recording

from shared.events import serialize_event
from shared.events.envelope import IntegrationEvent
from shared.events.topics import DEAD_LETTER
from shared.runtime.metrics import OUTBOX_LAG, PUBLISHED
from shared.runtime.resilience import retrying
from shared.runtime.store import DeadLetter, ServiceApplication
from shared.runtime.tail import LogTail

log = logging.getLogger(__name__)

# How often a relay records how far it has published, asks again whether it still holds
# its lease, and re-reads its position. In every cycle, these cost three round trips and
# a transaction a batch, and under a light load a batch is an event or two. Both delays
# are harmless: a crash republishes at most this long's events and a second relay's
# copies carry the same event ids, which every consumer drops; a position moved by the
# other relay fails the next mark.
CHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Fanout:
    """One integration event published to the service's topic and to `also` (e.g. the
    department topics of dispatch). Same event id everywhere, so copies are recognisable."""

    event: IntegrationEvent
    also: tuple[str, ...] = ()


# A service's translation of one stored domain event into what goes on the wire, or None
# for events that stay inside the service.
Translate = Callable[[Any], IntegrationEvent | Fanout | None]


def outgoing(event: IntegrationEvent, topic: str) -> Outgoing:
    return Outgoing(topic, str(event.case_id).encode(), serialize_event(event),
                    event.envelope_headers())


def dead_letter_message(service: str, letter: DeadLetter.Recorded) -> Outgoing:  # type: ignore[name-defined]
    import json

    body = {
        "service": service,
        "origin": {
            "topic": letter.origin_topic,
            "partition": letter.origin_partition,
            "offset": letter.origin_offset,
        },
        "error": letter.error,
        "event_type": letter.event_type,
        "event_id": letter.event_id,
        "recorded_at": letter.timestamp.isoformat(),
    }
    key = f"{letter.origin_topic}:{letter.origin_partition}:{letter.origin_offset}"
    return Outgoing(DEAD_LETTER, key.encode(), json.dumps(body).encode(),
                    [("dead_letter_service", service.encode())])


class Lease(Protocol):
    def acquire(self) -> bool: ...
    def release(self) -> None: ...


class FileLease:
    """SQLite deployments: an exclusive lock on a file beside the database."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        if self.fd is not None:
            return True
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class AdvisoryLease:
    """PostgreSQL deployments: a session advisory lock held on its own connection."""

    def __init__(self, database_url: str, name: str) -> None:
        self.database_url = database_url
        self.key = zlib.crc32(f"outbox-relay:{name}".encode())
        self.conn: Any = None

    def acquire(self) -> bool:
        import psycopg

        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                self.release()
        conn = psycopg.connect(self.database_url, autocommit=True)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row and row[0]:
            self.conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def lease_for(app: ServiceApplication) -> Lease:
    settings = app.settings
    if settings.database_url:
        return AdvisoryLease(settings.database_url, settings.service_name)
    return FileLease(settings.sqlite_path().with_suffix(".relay.lock"))


class OutboxRelay:
    def __init__(
        self,
        app: ServiceApplication,
        producer: AIOKafkaProducer,
        topic: str,
        translate: Translate,
        lease: Lease | None = None,
    ) -> None:
        self.app = app
        self.producer = producer
        self.topic = topic
        self.translate = translate
        self.lease = lease or lease_for(app)
        self.service = app.settings.service_name
        self.batch_size = app.settings.relay_batch_size
        self.idle = app.settings.relay_idle_ms / 1000
        self.wakeup = asyncio.Event()
        self.position: int | None = None  # last published notification id; None: ask
        self.marked: int | None = None  # the position as recorded in the store
        self.checked = -CHECK_EVERY_S  # when the lease was last confirmed (monotonic)
        self.log = LogTail(app, keep=4 * self.batch_size)

    def hand(self, recordings: Sequence[Recording[Any]]) -> None:
        """From the thread that recorded them: events to publish next (`LogTail`)."""
        self.log.hand(recordings)

    async def run(self) -> None:
        while True:
            if not await self._hold_lease():
                await asyncio.sleep(1.0)  # another instance relays this store
                continue
            published = await retrying(self.relay_once, "relay")
            if published < self.batch_size and not self.log.pending(self.position or 0):
                await self._idle()

    async def _hold_lease(self) -> bool:
        now = time.monotonic()
        if now - self.checked < CHECK_EVERY_S:
            return True
        await self._mark()
        held = await retrying(lambda: asyncio.to_thread(self.lease.acquire), "lease")
        self.checked = now if held else -CHECK_EVERY_S
        self.position = None  # read again: another relay may have moved it meanwhile
        if not held:
            self.log.forget()  # the lease holder publishes them from the store
        return held

    async def _mark(self) -> None:
        """Record the position published so far (only after the broker acknowledged)."""
        if self.position is None or self.position == self.marked:
            return
        try:
            at = self.position
            await retrying(lambda: asyncio.to_thread(self.app.mark_published, at),
                           "mark published")
            self.marked = at
        except IntegrityError:
            log.warning("outbox position moved by another relay", extra={"at": self.position})

    async def _idle(self) -> None:
        """Until events are handed (or were, during the last round) or the idle poll."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), self.idle)

    async def relay_once(self) -> int:
        self.wakeup.clear()  # what is handed from here on wakes the next round
        if self.position is None:
            self.position = self.marked = await asyncio.to_thread(self.app.outbox_position)
        at = self.position
        read = self.log.handed_after(at, self.batch_size)
        if read is None:
            read = await asyncio.to_thread(self.log.read_after, at, self.batch_size)
        last, events = read
        if last == at:
            OUTBOX_LAG.labels(self.service).set(0)
            return 0
        messages = [m for event in events for m in self._to_messages(event)]
        acks = [
            await self.producer.send(m.topic, m.value, key=m.key, headers=m.headers)
            for m in messages
        ]
        await asyncio.gather(*acks)  # all acknowledged (acks=all) before moving on
        self.position = last  # recorded by the next _mark
        PUBLISHED.labels(self.service).inc(len(messages))
        if len(events) == self.batch_size:  # behind: how far (else about nothing)
            max_id = await asyncio.to_thread(self.app.recorder.max_notification_id) or 0
            OUTBOX_LAG.labels(self.service).set(max(0, max_id - last))
        else:
            OUTBOX_LAG.labels(self.service).set(0)
        return len(events)

    def _to_messages(self, domain_event: Any) -> list[Outgoing]:
        if isinstance(domain_event, DeadLetter.Recorded):  # type: ignore[attr-defined]
            return [dead_letter_message(self.service, domain_event)]
        integration = self.translate(domain_event)
        if integration is None:
            return []
        if isinstance(integration, Fanout):
            topics = dict.fromkeys((self.topic, *integration.also))  # once each, in order
            return [outgoing(integration.event, t) for t in topics]
        return [outgoing(integration, self.topic)]

    async def stop(self) -> None:
        """After the run loop: record how far it got (once, best effort: a restart that
        finds an older position only republishes), then let the lease go."""
        if self.position is not None and self.position != self.marked:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.app.mark_published, self.position)
        self.lease.release()
