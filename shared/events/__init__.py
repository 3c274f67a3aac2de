"""Integration events: the public contracts every service publishes on Kafka.

One module per producing service; a common envelope; frozen pydantic v2 models.
Stored domain events (inside each service's event store) are separate types and
never leave their service.
"""

from shared.events.envelope import Actor, Channel, IntegrationEvent, Location
from shared.events.registry import ContractError, event_class, parse_event, serialize_event

__all__ = [
    "Actor",
    "Channel",
    "ContractError",
    "IntegrationEvent",
    "Location",
    "event_class",
    "parse_event",
    "serialize_event",
]
