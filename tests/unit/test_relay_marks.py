"""The outbox relay records how far it published once per check interval and on a clean
stop, not after every batch; a crash in between only republishes (same event ids). It
publishes what it is handed without reading the store, and reads the store whenever
what is due next was not handed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from services.dedup.application import DedupApplication
from services.dedup.outbox import to_integration
from shared.runtime.relay import FileLease, OutboxRelay
from shared.runtime.settings import ServiceSettings
from tests.unit.test_exactly_once_batches import batch, reported


class Producer:
    """Acknowledges every send at once, and keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        self.sent.append(value)
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def test_the_position_is_recorded_per_interval_and_on_stop_not_per_batch(
        tmp_path: Path) -> None:
    app = DedupApplication(ServiceSettings(service_name="dedup", data_dir=tmp_path))
    producer = Producer()
    relay = OutboxRelay(app, producer, "gov.dedup.events", to_integration,  # type: ignore[arg-type]
                        lease=FileLease(tmp_path / "relay.lock"))

    async def run() -> list[int]:
        seen = []
        assert await relay._hold_lease()  # takes the lease; nothing published to record
        for first in (0, 1):
            app.process_batch(batch([reported(10 + first)], first_offset=first))
            await relay.relay_once()
            seen.append(app.outbox_position())  # published, not yet recorded
        relay.checked = -1e9  # the check interval is over
        assert await relay._hold_lease()
        seen.append(app.outbox_position())
        app.process_batch(batch([reported(20)], first_offset=2))
        await relay.relay_once()
        await relay.stop()
        seen.append(app.outbox_position())
        return seen

    positions = asyncio.run(run())
    top = app.recorder.max_notification_id()
    assert positions[:2] == [0, 0]
    assert 0 < positions[2] < top  # the first two batches, recorded at the check
    assert positions[3] == top  # the rest, recorded by the clean stop
    assert len(producer.sent) == 3  # each decision published once


class Relaying:
    """A dedup application and its relay, with the relay's reads of the store counted."""

    def __init__(self, tmp_path: Path) -> None:
        self.app = DedupApplication(ServiceSettings(service_name="dedup", data_dir=tmp_path))
        self.producer = Producer()
        self.relay = OutboxRelay(self.app, self.producer, "gov.dedup.events",  # type: ignore[arg-type]
                                 to_integration, lease=FileLease(tmp_path / "relay.lock"))
        self.recorded: list[list[Any]] = []
        self.app.on_recorded.append(self.recorded.append)
        self.reads = 0
        read = self.relay.log.read_after

        def counted(*args: Any) -> Any:
            self.reads += 1
            return read(*args)

        self.relay.log.read_after = counted  # type: ignore[method-assign]

    def record(self, n: int) -> list[Any]:
        self.app.process_batch(batch([reported(n)], first_offset=n))
        return self.recorded[-1]

    def published_reports(self) -> list[str]:
        return [json.loads(v)["report_id"] for v in self.producer.sent]


def test_handed_events_are_published_without_reading_the_store(tmp_path: Path) -> None:
    r = Relaying(tmp_path)

    async def run() -> None:
        assert await r.relay._hold_lease()
        assert await r.relay.relay_once() == 0  # nothing yet: read once
        for n in range(3):
            r.relay.hand(r.record(n))
            assert await r.relay.relay_once() == 1

    asyncio.run(run())
    assert r.reads == 1
    assert r.published_reports() == [str(reported(n).report_id) for n in range(3)]
    assert r.relay.position == r.app.recorder.max_notification_id()


def test_what_was_not_handed_is_read_from_the_store_in_order_and_once(tmp_path: Path) -> None:
    """Events recorded by another instance (never handed), then events handed out of
    order (two threads committed in one order and handed in the other)."""
    r = Relaying(tmp_path)

    async def run() -> list[int]:
        assert await r.relay._hold_lease()
        r.record(0)  # another instance's: not handed
        r.relay.hand(r.record(1))
        published = [await r.relay.relay_once()]  # 1 is not due: 0 is, so read both
        second, third = r.record(2), r.record(3)
        r.relay.hand(third)
        published.append(await r.relay.relay_once())  # 2 is due: read 2 and 3
        r.relay.hand(second)  # late, and already published
        published.append(await r.relay.relay_once())
        return published

    assert asyncio.run(run()) == [2, 2, 0]
    assert r.reads == 3
    assert r.published_reports() == [str(reported(n).report_id) for n in range(4)]
