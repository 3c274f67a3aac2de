"""The garbage collector, kept from stopping a service for a tenth of a second at a time.

CPython's full collection walks every object that has ever survived one, and a running
service holds about a million (modules, pydantic and SQLAlchemy schemas, the place
registry, dedup's index, kept aggregates). Under 200 reports/s every service ran one
every few seconds, 100-360 ms each with the GIL held, freeing next to nothing (seen with
`gc.callbacks` on the bench stack).

So what a full collection leaves alive is frozen (`gc.freeze`: the permanent generation,
which no collection walks), and the next one walks only what has survived since: under
the same load the longest took 65 ms. Frozen objects are still freed by reference
counting; only one that dies inside a reference cycle stays, until the hourly sweep
unfreezes everything and collects it once in full (one long pause an hour, logged with
what it found, instead of one every few seconds).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 3600.0


def freeze_survivors() -> None:
    """What is alive now is frozen, and from now on what each full collection leaves."""
    gc.collect()
    if _after_full not in gc.callbacks:
        gc.callbacks.append(_after_full)
    gc.freeze()


def stop_freezing() -> None:
    """Back to CPython's own collector (tests)."""
    gc.callbacks[:] = [c for c in gc.callbacks if c is not _after_full]
    gc.unfreeze()


def _after_full(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()  # what is left is alive


def sweep_once() -> int:
    """Reclaim the cycles frozen objects formed as they died; how many objects that was.
    The survivors are frozen again by `_after_full`."""
    gc.unfreeze()
    return gc.collect()


async def sweep(every_s: float = SWEEP_EVERY_S) -> None:
    while True:
        await asyncio.sleep(every_s)
        began = time.perf_counter()
        found = sweep_once()
        log.info("swept frozen objects", extra={
            "unreachable": found, "ms": round((time.perf_counter() - began) * 1000, 1),
            "frozen": gc.get_freeze_count()})
