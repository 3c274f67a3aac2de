"""Parsing and serialising integration events: the one place a wire message becomes a model.

Unknown fields are ignored; an older schema version is upcast before validation; anything
else that does not fit raises ContractError, whose text never includes the message's
values (they may hold personal data) so it can go to the dead-letter topic as it is.

Every consumer parses every message it reads, so the common case has a short path: a
message as `serialize_event` writes it, at its type's current version, is validated by
pydantic straight from its bytes (no `json.loads`, no dict in between; half the time).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from pydantic import ValidationError

from shared.events import dedup, dispatch, intake, supervision
from shared.events.envelope import IntegrationEvent

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (event_type, from_version) -> function giving the body at from_version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class ContractError(ValueError):
    """A message that does not parse or violates its contract."""


def contract_modules() -> tuple[Any, ...]:
    return (intake, dedup, dispatch, supervision)


@cache
def _by_type() -> dict[str, type[IntegrationEvent]]:
    found: dict[str, type[IntegrationEvent]] = {}
    for module in contract_modules():
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, IntegrationEvent)
                and value is not IntegrationEvent
                and value.__module__ == module.__name__
            ):
                found[value.event_type] = value
    return found


def all_event_classes() -> Iterable[type[IntegrationEvent]]:
    return _by_type().values()


def event_class(event_type: str) -> type[IntegrationEvent]:
    try:
        return _by_type()[event_type]
    except KeyError:
        raise ContractError(f"unknown event_type {event_type!r}") from None


def wire_body(event: IntegrationEvent) -> dict[str, Any]:
    """The event as its message's JSON object (what `json.loads` of the message gives)."""
    body = event.model_dump(mode="json")
    body["event_type"] = event.event_type
    body["schema_version"] = event.schema_version
    return body


def serialize_event(event: IntegrationEvent) -> bytes:
    return json.dumps(wire_body(event), ensure_ascii=False, separators=(",", ":")).encode()


# How serialize_event ends every message: the type and version, last, at the top level.
WIRE_END = re.compile(rb'"event_type":"([a-z_.]+)","schema_version":(\d+)}\Z')


def json_object(value: bytes | None) -> dict[str, Any]:
    """The message body as a JSON object, or ContractError (never quoting the bytes)."""
    if not value:
        raise ContractError("empty message")
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not JSON: {type(exc).__name__} at position {_pos(exc)}") from None
    except RecursionError:  # e.g. b"[[[[..." from a hostile or broken producer
        raise ContractError("not JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise ContractError("message body is not a JSON object")
    return body


def parse_event(value: bytes | None) -> IntegrationEvent:
    """The message's event, or ContractError. The short path when the message ends as
    `serialize_event` ends it at the type's current version; `parse_any_layout` else
    (older versions to upcast, other layouts, and errors to describe in its words)."""
    if value:
        end = WIRE_END.search(value, max(0, len(value) - 96))
        cls = _by_type().get(end.group(1).decode()) if end else None
        if end and cls and int(end.group(2)) == cls.schema_version:
            try:
                return cls.model_validate_json(value)
            except ValidationError:
                pass  # described by the long path, in its own words
    return parse_any_layout(value)


def parse_any_layout(value: bytes | None) -> IntegrationEvent:
    body = json_object(value)
    cls = event_class(str(body.get("event_type")))
    body = _upcast(cls, body)
    try:
        return cls.model_validate(body)
    except ValidationError as exc:
        raise ContractError(describe_validation_error(exc)) from None


def _upcast(cls: type[IntegrationEvent], body: dict[str, Any]) -> dict[str, Any]:
    version = body.get("schema_version", 1)
    if not isinstance(version, int) or version < 1 or version > cls.schema_version:
        raise ContractError(f"{cls.event_type}: unsupported schema_version {version!r}")
    while version < cls.schema_version:
        body = UPCASTERS[(cls.event_type, version)](body)
        version += 1
    return body


def describe_validation_error(exc: ValidationError) -> str:
    """Field locations and messages only: never the offending input values."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    ]
    return f"{exc.title}: " + "; ".join(parts)


def _pos(exc: Exception) -> object:
    return getattr(exc, "pos", getattr(exc, "start", "?"))
