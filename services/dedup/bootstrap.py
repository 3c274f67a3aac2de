"""Composition root of the dedup service."""

from __future__ import annotations

from services.dedup.api import router
from services.dedup.application import DedupApplication, DedupSettings
from services.dedup.outbox import to_integration
from shared.events import topics
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="dedup",
    title="Dedup 筛重整合",
    port=8102,
    build=DedupApplication,
    consumes=(topics.INTAKE, topics.DISPATCH),  # reports; closings (for linked repeats)
    publishes=topics.DEDUP,
    translate=to_integration,
    routers=(router,),
    settings_class=DedupSettings,
)
