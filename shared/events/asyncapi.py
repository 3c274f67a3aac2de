"""The AsyncAPI document, generated from the code that runs.

`faststream docs gen shared.events.asyncapi:app` reads this FastStream app: one
publisher per producing service's topic (payload: the union of that service's contract
models) and one subscriber per topic each service consumes (payload: the events its
policy handles). The topics and models are the ones the services use; this app is only
ever read for its specification and never connects.
"""

from __future__ import annotations

import importlib
from typing import Any, Union

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.events import registry, topics
from shared.events.envelope import IntegrationEvent

SERVICES = ("intake", "dedup", "dispatch", "supervision", "projections")


def _union(classes: list[type[IntegrationEvent]]) -> Any:
    return classes[0] if len(classes) == 1 else Union[tuple(classes)]  # noqa: UP007


def _events_of(module: Any) -> list[type[IntegrationEvent]]:
    return [c for c in registry.all_event_classes() if c.__module__ == module.__name__]


def build_app() -> FastStream:
    broker = KafkaBroker("127.0.0.1:19092", description="Grassroots governance case events")
    for name in SERVICES:
        spec = importlib.import_module(f"services.{name}.bootstrap").SPEC
        if spec.publishes:
            module = importlib.import_module(f"shared.events.{name}")
            broker.publisher(spec.publishes, title=f"{spec.publishes}:{name}",
                             description=f"Events published by {name}, keyed by case id",
                             schema=_union(_events_of(module)))
        for topic in spec.consumes:
            _subscribe(broker, name, topic)
    return FastStream(broker, specification=AsyncAPI(
        title="Grassroots governance platform (基层社会治理)", version="0.1.0"))


def _subscribe(broker: KafkaBroker, service: str, topic: str) -> None:
    producer = topic.split(".")[1]
    payload = _channel_model(topic) if producer == "channel" else \
        _union(_events_of(importlib.import_module(f"shared.events.{producer}")))

    async def consume(event: IntegrationEvent) -> None:
        """Documented only: the service's batch consumer does the real work."""

    consume.__annotations__ = {"event": payload, "return": None}  # the real payload union
    consume.__name__ = f"{service}_consumes_{producer}"
    broker.subscriber(topic, group_id=service, title=f"{topic}:{service}")(consume)


def _channel_model(topic: str) -> Any:
    """A channel's intake topic carries that channel's own submission model (plus sender)."""
    from services.intake.channels import MODELS

    by_topic = {topics.CHANNEL_TOPICS[c.value]: model for c, model in MODELS.items()}
    return by_topic[topic]


def __getattr__(name: str) -> Any:
    # `app` is built on first access, so importing this module does no work.
    if name == "app":
        return build_app()
    raise AttributeError(name)

