"""The outbox relay records how far it published once per check interval and on a clean
stop, not after every batch; a crash in between only republishes (same event ids)."""

from __future__ import annotations

import asyncio
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
