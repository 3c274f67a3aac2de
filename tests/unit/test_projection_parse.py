"""The rebuild's parser gives parse_event's answer: the same event for every message the
platform writes, the same ContractError for every message that does not fit."""

from __future__ import annotations

import json
import random

import pytest

from services.projections.rebuild import parse
from shared.events import ContractError, parse_event, serialize_event
from tests.unit.test_projection_commutes import scenario


def test_every_event_of_a_story_parses_to_the_same_event() -> None:
    events = scenario(random.Random(3), 8)
    assert len({e.event_type for e in events}) >= 12  # the story covers many types
    for e in events:
        wire = serialize_event(e)
        assert parse(wire) == parse_event(wire) == e
        assert type(parse(wire)) is type(e)


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
        parse_event(body)
    with pytest.raises(ContractError) as ours:
        parse(body)
    assert str(ours.value) == str(theirs.value)


def test_another_layout_of_a_valid_message_takes_parse_events_path() -> None:
    e = scenario(random.Random(5), 1)[0]
    spaced = json.dumps(json.loads(serialize_event(e)), indent=1).encode()
    assert parse(spaced) == parse_event(spaced) == e
