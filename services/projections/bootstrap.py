"""Composition root of the projections service."""

from __future__ import annotations

from services.projections.api import router
from services.projections.deadletters import dead_letter_loop
from services.projections.inbox import router as inbox_router
from services.projections.readmodel import CaseReadModel
from shared.events import topics
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="projections",
    title="Projections 读模型",
    port=8105,
    build=CaseReadModel,
    consumes=topics.CASE_TOPICS,
    routers=(router, inbox_router),
    background=(dead_letter_loop,),
)
