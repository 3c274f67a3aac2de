"""Who and why, carried on every stored event and turned into the integration envelope."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events import Actor, IntegrationEvent

Meta = dict[str, Any]


def system_actor(service: str) -> Actor:
    return Actor(id=service, role="system", name=service)


def meta_from(cause: IntegrationEvent, actor: Actor) -> Meta:
    """Meta for an event caused by a consumed message: same correlation, caused by it."""
    return {
        "actor": actor.model_dump(),
        "correlation_id": str(cause.correlation_id),
        "causation_id": str(cause.event_id),
    }


def command_meta(actor: Actor, correlation_id: uuid.UUID) -> Meta:
    """Meta for an event caused by a person's command over HTTP."""
    return {"actor": actor.model_dump(), "correlation_id": str(correlation_id),
            "causation_id": None}


def envelope(domain_event: Any, producer: str, case_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The envelope fields of the integration event for one stored domain event.

    The event id is derived from (producer, aggregate, version): relaying the same stored
    event twice yields the same id, which is how consumers recognise a republish.
    """
    meta: Meta = domain_event.meta
    causation = meta.get("causation_id")
    return {
        "event_id": IntegrationEvent.derive_id(
            producer, domain_event.originator_id, domain_event.originator_version
        ),
        "case_id": case_id or domain_event.originator_id,
        "occurred_at": domain_event.timestamp,
        "producer": producer,
        "correlation_id": uuid.UUID(meta["correlation_id"]),
        "causation_id": uuid.UUID(causation) if causation else None,
        "actor": Actor.model_validate(meta["actor"]),
    }
