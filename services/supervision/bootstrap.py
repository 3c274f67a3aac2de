"""Composition root of the supervision service."""

from __future__ import annotations

from services.supervision.api import router, timer_loop
from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.outbox import to_integration
from shared.events import topics
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="supervision",
    title="Supervision 督查督办",
    port=8104,
    build=SupervisionApplication,
    # Every case topic: each event joins its case's archive (一件一档), its own alarms too.
    consumes=topics.CASE_TOPICS,
    publishes=topics.SUPERVISION,
    translate=to_integration,
    routers=(router,),
    background=(timer_loop,),
    settings_class=SupervisionSettings,
)
