"""Composition root of the dispatch service."""

from __future__ import annotations

from services.dispatch.api import router
from services.dispatch.application import DispatchApplication
from services.dispatch.outbox import to_integration
from shared.events import topics
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="dispatch",
    title="Dispatch 任务派遣",
    port=8103,
    build=DispatchApplication,
    consumes=(topics.DEDUP,),
    publishes=topics.DISPATCH,
    translate=to_integration,
    routers=(router,),
)
