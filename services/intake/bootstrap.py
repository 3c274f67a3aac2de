"""Composition root of the intake service."""

from __future__ import annotations

from services.intake.api import router
from services.intake.application import IntakeApplication
from services.intake.outbox import to_integration
from shared.events import topics
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="intake",
    title="Intake 信息采集",
    port=8101,
    build=IntakeApplication,
    publishes=topics.INTAKE,
    translate=to_integration,
    routers=(router,),
)
