"""Live updates: every recorded batch is told to the open event streams (server-sent
events), each filtered to what its caller may see. Pages refetch what changed instead of
polling; a stream carries case ids and statuses, never a description or a person."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from shared.runtime.auth import Caller

HEARTBEAT_SECONDS = 15.0
QUEUE_LIMIT = 1000  # a stalled page loses updates (and refetches), never the server


class Broadcaster:
    """Hands batches from the consumer's thread to the subscribers' event loop."""

    def __init__(self) -> None:
        self.subscribers: set[asyncio.Queue[list[dict[str, Any]]]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def publish(self, changes: list[dict[str, Any]]) -> None:
        """Called from the consumer's worker thread after a batch is committed."""
        if self.loop is None or not self.subscribers or not changes:
            return
        self.loop.call_soon_threadsafe(self._fan_out, changes)

    def _fan_out(self, changes: list[dict[str, Any]]) -> None:
        for queue in list(self.subscribers):
            if queue.qsize() < QUEUE_LIMIT:
                queue.put_nowait(changes)

    async def stream(self, who: Caller) -> AsyncIterator[str]:
        self.loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self.subscribers.add(queue)
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    changes = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                seen = [ch for ch in changes if may_see(who, ch)]
                if seen:
                    body = json.dumps({"changes": [_public(ch) for ch in seen]})
                    yield f"event: cases\ndata: {body}\n\n"
        finally:
            self.subscribers.discard(queue)


def may_see(who: Caller, change: dict[str, Any]) -> bool:
    area = change.get("area_path")
    if not area or not who.can_see(area):
        return False
    return who.role != "department_staff" or change.get("department") == who.department


def _public(change: dict[str, Any]) -> dict[str, Any]:
    return {k: change.get(k) for k in ("case_id", "event_type", "status", "area_path")}
