"""Riding out a restarting database or broker instead of dying with it.

A batch or relay step that fails on a transient infrastructure error recorded nothing
(its transaction rolled back, or its position was not moved), so it is simply tried
again after a pause. Anything else is a bug and still stops the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import sqlalchemy.exc
from aiokafka.errors import KafkaError
from eventsourcing.persistence import InterfaceError, OperationalError

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,  # eventsourcing's, incl. connection unavailable
    InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,  # the relay's lease connection
    KafkaError,
    ConnectionError,
    TimeoutError,
)
MAX_PAUSE = 5.0


async def retrying(step: Callable[[], Awaitable[T]], what: str) -> T:
    pause = 0.2
    while True:
        try:
            return await step()
        except TRANSIENT as exc:
            log.warning("transient failure, retrying",
                        extra={"step": what, "error": type(exc).__name__, "pause": pause})
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)


async def keep_running(start: Callable[[], Awaitable[None]], what: str) -> None:
    """Run a background loop (timers, index tailers); restart it after a transient
    infrastructure failure instead of taking the whole service down."""
    pause = 0.2
    while True:
        try:
            await start()
            return
        except TRANSIENT as exc:
            log.warning("background loop failed, restarting",
                        extra={"loop": what, "error": type(exc).__name__, "pause": pause})
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
