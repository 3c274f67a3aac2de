"""parse_event's short path gives the long path's answer: the same event for every message
the platform writes, the same ContractError for every message that does not fit."""

from __future__ import annotations

import json
import random

import pytest

from shared.events import ContractError, parse_event, serialize_event
from shared.events.registry import parse_any_layout, wire_body
from tests.unit.test_projection_commutes import scenario


def test_every_event_of_a_story_parses_to_the_same_event() -> None:
    events = scenario(random.Random(3), 8)
    assert len({e.event_type for e in events}) >= 12  # the story covers many types
    for e in events:
        wire = serialize_event(e)
        assert parse_event(wire) == parse_any_layout(wire) == e
        assert type(parse_event(wire)) is type(e)


def _reported(**changes: object) -> bytes:
    body = json.loads(serialize_event(scenario(random.Random(3), 1)[0]))
    body.update(changes)
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("body", [
    b"", b"[]", b"{", b"\xff\xfe",
    b'{"event_type":"case.closed","schema_version":1}',  # the layout, no fields
    b'{"event_type":"case.nothing","schema_version":1}',
    _reported(schema_version=9),  # a version this build does not know
    _reported(reported_at="yesterday"),  # a field of the wrong type
    _reported(description=""),
])
def test_a_message_that_does_not_fit_gets_parse_events_own_error(body: bytes) -> None:
    with pytest.raises(ContractError) as theirs:
        parse_any_layout(body)
    with pytest.raises(ContractError) as ours:
        parse_event(body)
    assert str(ours.value) == str(theirs.value)


def test_another_layout_of_a_valid_message_takes_the_long_path() -> None:
    e = scenario(random.Random(5), 1)[0]
    spaced = json.dumps(json.loads(serialize_event(e)), indent=1).encode()
    assert parse_event(spaced) == parse_any_layout(spaced) == e


def _same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down (a tuple is not the list JSON gives)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b


def test_an_events_wire_body_is_what_its_message_decodes_to() -> None:
    """Supervision archives `wire_body` as the entry: an entry read back from the store
    must be the very value it archived (the chain hashes it)."""
    for e in scenario(random.Random(3), 8):
        assert _same(wire_body(e), json.loads(serialize_event(e)))
