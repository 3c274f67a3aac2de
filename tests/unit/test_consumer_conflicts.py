"""The batch consumer retries a batch that lost a race with another writer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy.exc import IntegrityError as RowConflict

from shared.runtime.consumer import BatchConsumer
from shared.runtime.store import Inbound


class RacingSink:
    """Loses the race `losses` times (the transaction rolled back), then records."""

    def __init__(self, conflict: Exception, losses: int) -> None:
        self.conflict = conflict
        self.losses = losses
        self.calls = 0

    def tracked_position(self, topic: str, partition: int) -> int:
        return 0

    def process_partitions(self, batches: Sequence[Sequence[Inbound]]) -> bool:
        self.calls += 1
        if self.calls <= self.losses:
            raise self.conflict
        return True


def record(sink: RacingSink) -> bool:
    async def go() -> bool:
        consumer = BatchConsumer(sink, ["t"], bootstrap_servers="127.0.0.1:1", group_id="g",
                                 service="test")
        try:
            recorded: bool = await consumer._record(  # type: ignore[assignment]
                [[Inbound("t", 0, 0, None, "x")]])
            return recorded
        finally:
            await consumer.stop()

    return asyncio.run(go())


@pytest.mark.parametrize("conflict", [
    IntegrityError("aggregate version taken"),  # an event store: same aggregate written
    RowConflict("INSERT", {}, Exception("duplicate key")),  # a read model: same new row
])
def test_a_batch_that_lost_a_race_is_tried_again_and_recorded(conflict: Exception) -> None:
    sink = RacingSink(conflict, losses=2)
    assert record(sink) is True
    assert sink.calls == 3


def test_a_batch_that_always_conflicts_stops_the_consumer() -> None:
    sink = RacingSink(IntegrityError("always"), losses=10**6)
    with pytest.raises(RuntimeError, match="kept conflicting"):
        record(sink)
