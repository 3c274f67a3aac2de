"""Composition root of the intake service."""

from __future__ import annotations

import asyncio
import contextlib

from services.intake.api import router
from services.intake.application import IntakeApplication
from services.intake.channels import MODELS, topic_parser
from services.intake.open311 import router as open311_router
from services.intake.outbox import to_integration
from services.intake.settings import IntakeSettings
from shared.events import topics
from shared.runtime.service import Runtime, ServiceSpec

COALESCE_S = 0.1


async def keep_index(runtime: Runtime) -> None:
    """Tail intake's own notification log into the report index (queue, Open311)."""
    app: IntakeApplication = runtime.sink
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake(_: object) -> None:  # called from the thread that recorded the events
        loop.call_soon_threadsafe(woken.set)

    app.on_recorded.append(wake)
    every = getattr(runtime.settings, "index_poll_ms", 200) / 1000
    while True:
        woken.clear()
        await asyncio.to_thread(app.index.catch_up)
        # Reports recorded meanwhile are read in one catch-up, not one each: readers catch
        # up themselves before they query, so the table is never read stale.
        await asyncio.sleep(COALESCE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), every)


CHANNEL_PARSERS = {topics.CHANNEL_TOPICS[c.value]: topic_parser(c) for c in MODELS}

SPEC = ServiceSpec(
    name="intake",
    title="Intake 信息采集",
    port=8101,
    build=IntakeApplication,
    # Channel submissions, and what becomes of each case (for Open311 status).
    consumes=(*CHANNEL_PARSERS, topics.DEDUP, topics.DISPATCH),
    parsers=CHANNEL_PARSERS,
    publishes=topics.INTAKE,
    translate=to_integration,
    routers=(router, open311_router),
    background=(keep_index,),
    settings_class=IntakeSettings,
)
