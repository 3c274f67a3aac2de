"""Property-based tests of every parser and normaliser that meets outside input: whatever
arrives, each either gives its result or raises its one documented error, and what it
gives keeps its promises (no personal data shown, idempotent display forms, paths that
nest)."""

from __future__ import annotations

import contextlib
import json
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.dedup.text import features, normalise, subject_of
from services.intake.channels import MODELS, CategoryUnknown, Draft, topic_parser
from services.intake.channels import normalise as normalise_channel
from services.intake.open311 import Open311Error, _draft
from shared.events import Actor, ContractError, IntegrationEvent, parse_event
from shared.events.registry import all_event_classes, json_object
from shared.pii import (
    ID_RE,
    PHONE_RE,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    redact,
)
from shared.places import Level
from shared.places.codes import code_area_path, join_path, level_of_code, path_within
from shared.runtime.auth import Caller

EVENT_TYPES = sorted(c.event_type for c in all_event_classes())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12)
words = st.text(st.characters(exclude_categories=["Cs"]), min_size=2, max_size=60)
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
digits_and_text = st.text(alphabet=st.sampled_from("0123456789 -+86*Xx@.ab张三号"), max_size=40)


# -- the event registry -------------------------------------------------------------------

@settings(deadline=None)  # timing is not what these check
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_contract_error(raw: bytes) -> None:
    with contextlib.suppress(ContractError):
        assert isinstance(parse_event(raw), IntegrationEvent)


@settings(deadline=None)  # timing is not what these check
@given(st.sampled_from(EVENT_TYPES), st.dictionaries(st.text(max_size=12), json_values,
                                                     max_size=8),
       st.one_of(st.none(), st.integers(-3, 5), st.text(max_size=3)), mobiles)
def test_any_json_object_of_a_known_type_parses_or_raises_contract_error(
        event_type: str, fields: dict[str, Any], version: Any, phone: str) -> None:
    body = {**fields, "event_type": event_type, "title": {"电话": phone}}
    if version is not None:
        body["schema_version"] = version
    try:
        event = parse_event(json.dumps(body).encode())
    except ContractError as refused:
        assert phone not in str(refused)  # a dead letter never quotes the message
        return
    assert event.event_type == event_type


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 100_000, b"\xff\xfe", b"",
                                 b"null", b"[]", b'"x"'])
def test_hostile_bodies_are_contract_errors(raw: bytes) -> None:
    with pytest.raises(ContractError):
        json_object(raw)


# -- channel adapters -----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.dictionaries(st.text(max_size=16), json_values,
                                                        max_size=8))
def test_any_json_on_a_channel_topic_parses_or_raises_contract_error(
        channel: Any, body: dict[str, Any]) -> None:
    with contextlib.suppress(ContractError):
        topic_parser(channel)(json.dumps(body).encode())


@settings(max_examples=80, deadline=None)
@given(content=words, category=st.text(max_size=30), phone=mobiles, noise=words)
def test_a_valid_hotline_transfer_normalises_without_showing_a_phone(
        content: str, category: str, phone: str, noise: str) -> None:
    model = MODELS[next(c for c in MODELS if c.value == "hotline_12345")]
    body = {"work_order_no": "GD-1", "call_time": "2026-03-02T09:05:00+08:00",
            "caller": {"phone": phone}, "content": f"{content} 电话{phone}。{noise}",
            "hotline_category": category or "生态环境/大气污染/餐饮油烟",
            "location": {"lon": 119.02, "lat": 25.44}}
    try:
        valid = model.model_validate(body)
    except ValidationError:
        return
    try:
        draft = normalise_channel(valid, Actor(id="op", role="hotline_operator"),
                                  now=datetime.now(UTC))
    except CategoryUnknown:
        return
    assert isinstance(draft, Draft)
    assert phone not in draft.description
    assert not PHONE_RE.search(draft.description) and not ID_RE.search(draft.description)


OPEN311_KEYS = ("service_code", "description", "lat", "long", "address_string", "address_id",
                "attribute[unit_code]", "media_url", "first_name", "last_name", "phone",
                "email", "device_id", "account_id")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(OPEN311_KEYS),
                       st.one_of(st.text(max_size=40), digits_and_text,
                                 st.sampled_from(["urban.garbage", "25.44", "119.02",
                                                  "350302001001001001", "https://x.cn/a.jpg"])),
                       max_size=10))
def test_any_open311_form_gives_a_draft_or_an_open311_error(fields: dict[str, str]) -> None:
    who = Caller(id="k", role="service", name="", place="350300")
    try:
        draft, token = _draft(fields, who)
    except Open311Error as refused:
        assert 400 <= refused.status < 500
        return
    assert draft.category == fields["service_code"] and token
    assert not PHONE_RE.search(draft.description) and not PHONE_RE.search(draft.address)


# -- place codes ---------------------------------------------------------------------------

@settings(deadline=None)  # timing is not what these check
@given(st.text(alphabet=st.sampled_from(string.digits + "０１a/ "), max_size=20)
       | st.from_regex(r"[0-9]{6}|[0-9]{9}|[0-9]{12}|[0-9]{15}|[0-9]{18}", fullmatch=True))
def test_any_text_is_a_code_under_a_city_or_malformed(text: str) -> None:
    try:
        path = code_area_path(text)
    except ValueError:
        return  # malformed, or its ancestors are (000000001 lies in no city)
    assert level_of_code(text) is not None and level_of_code(path[0]) is Level.CITY
    assert path[-1] == text and len(path) == len(set(path))
    for depth in range(1, len(path)):
        assert path_within(join_path(path), join_path(path[:depth]))
        assert code_area_path(path[depth - 1]) == path[:depth]  # each ancestor is a code


@settings(deadline=None)  # timing is not what these check
@given(st.from_regex(r"35030[1-9][0-9]{2}[1-9]", fullmatch=True),
       st.from_regex(r"[0-9]{1,3}", fullmatch=True))
def test_a_sibling_whose_code_shares_a_prefix_is_not_within(town: str, tail: str) -> None:
    path = join_path(code_area_path(town))
    assert not path_within(path + tail, path)  # '.../350302001' is not under '.../35030200'
    assert not path_within(path[:-1], path)


# -- dedup text ----------------------------------------------------------------------------

@settings(deadline=None)  # timing is not what these check
@given(st.text(max_size=80))
def test_text_normalisation_is_idempotent_and_features_are_stable(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert features("", text) == features("", text)
    assert isinstance(subject_of(text), frozenset)


@settings(deadline=None)  # timing is not what these check
@given(st.text(alphabet=st.sampled_from(string.ascii_letters + string.digits + " "),
               max_size=40))
def test_full_width_text_has_the_same_features_as_half_width(text: str) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) if c != " " else "\u3000" for c in text)
    assert features("", wide) == features("", text)


# -- personal data: display forms -------------------------------------------------------------

@settings(deadline=None)  # timing is not what these check
@given(digits_and_text)
def test_every_mask_is_idempotent(value: str) -> None:
    for mask in (mask_phone, mask_id_number, mask_name, mask_email):
        assert mask(mask(value)) == mask(value), mask.__name__


@settings(deadline=None)  # timing is not what these check
@given(st.text(max_size=60) | digits_and_text)
def test_redaction_is_idempotent_and_leaves_no_phone_or_id(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert not PHONE_RE.search(once) and not ID_RE.search(once)


@settings(deadline=None)  # timing is not what these check
@given(mobiles, st.sampled_from(["", "+86", "+86 ", "86-"]))
def test_a_masked_phone_shows_at_most_its_first_three_and_last_four_digits(
        phone: str, prefix: str) -> None:
    shown = mask_phone(prefix + phone)
    assert shown == phone[:3] + "****" + phone[-4:]


@settings(deadline=None)  # timing is not what these check
@given(st.from_regex(r"[1-9]\d{16}[\dX]", fullmatch=True))
def test_a_masked_id_number_shows_only_its_ends(id_number: str) -> None:
    shown = mask_id_number(id_number)
    assert len(shown) == len(id_number) and shown[4:-4] == "*" * 10
    assert sum(ch != "*" for ch in shown) == 8
