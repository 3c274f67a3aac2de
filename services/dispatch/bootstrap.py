"""Composition root of the dispatch service."""

from __future__ import annotations

from services.dispatch.api import router
from services.dispatch.application import DispatchApplication, DispatchSettings
from services.dispatch.outbox import to_integration
from services.dispatch.reference_api import router as reference_router
from shared.events import topics
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="dispatch",
    title="Dispatch 任务派遣",
    port=8103,
    build=DispatchApplication,
    consumes=(topics.DEDUP,),
    publishes=topics.DISPATCH,  # and each department's gov.dispatch.dept.<code> (outbox.py)
    translate=to_integration,
    routers=(router, reference_router),
    settings_class=DispatchSettings,
)
