"""Publishes the read model's dead letters to the dead-letter topic (a tiny outbox)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.events.topics import DEAD_LETTER
from shared.runtime.metrics import DEAD_LETTERS


async def dead_letter_loop(runtime: Any) -> None:
    model = runtime.sink
    service = runtime.settings.service_name
    while True:
        letters = await asyncio.to_thread(model.unpublished_dead_letters)
        for letter in letters:
            topic, partition, offset = letter["origin"].rsplit(":", 2)
            body = {"service": service,
                    "origin": {"topic": topic, "partition": int(partition), "offset": int(offset)},
                    "error": letter["error"], "event_type": letter["event_type"],
                    "recorded_at": letter["recorded_at"].isoformat()}
            await runtime.producer.send_and_wait(DEAD_LETTER, json.dumps(body).encode(),
                                                 key=letter["origin"].encode())
            DEAD_LETTERS.labels(service, topic).inc()
        if letters:
            await asyncio.to_thread(model.mark_dead_letters_published,
                                    [x["origin"] for x in letters])
        else:
            await asyncio.sleep(1.0)
