"""Personal data: masks, redaction of free text, per-person keys and crypto-shredding,
and the transport envelope channels use on Kafka."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine

from shared.pii import (
    Person,
    PersonalDataVault,
    PersonForgotten,
    TransportError,
    find_personal_patterns,
    mask_id_number,
    mask_name,
    mask_phone,
    redact,
    seal_for_transport,
)

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
ids = st.builds(lambda region, y, m, d, tail: f"{region}{y}{m:02d}{d:02d}{tail}",
                st.from_regex(r"[1-9][0-9]{5}", fullmatch=True), st.integers(1900, 2025),
                st.integers(1, 12), st.integers(1, 28), st.from_regex(r"[0-9]{3}[0-9X]",
                                                                      fullmatch=True))
words = st.text(st.sampled_from("小区门口垃圾堆积三天请处理，。abc "), max_size=30)


def test_masks_as_shown_in_every_read_api() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_id_number("110101199003071234") == "1101**********1234"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧***"


@given(mobiles, ids, words, words)
def test_redacted_text_holds_no_phone_or_id_pattern(phone: str, id_number: str, a: str,
                                                    b: str) -> None:
    text = f"{a}电话{phone}{b}身份证{id_number}"
    out = redact(text)
    assert find_personal_patterns(out) == []
    assert phone not in out and id_number not in out
    assert phone[-4:] in out  # the masked form keeps the last four digits


@given(words)
def test_text_without_personal_data_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_place_codes_are_not_taken_for_id_numbers() -> None:
    code = "350302001001001001"  # a unit code: 18 digits, but no birth date inside
    assert redact(f"单元 {code}") == f"单元 {code}"


@pytest.fixture
def vault() -> PersonalDataVault:
    return PersonalDataVault(create_engine("sqlite://"))


def test_a_person_sealed_opens_only_with_their_key_and_not_after_erasure(
        vault: PersonalDataVault) -> None:
    person = Person(name="张三", phone="13812345678", id_number="110101199003071234")
    aad = uuid.uuid4().bytes
    sealed = vault.seal(person, aad)
    assert "13812345678" not in sealed.ciphertext
    assert vault.unseal(sealed, aad) == person
    with pytest.raises(Exception):  # noqa: B017 - bound to its report: another aad fails
        vault.unseal(sealed, uuid.uuid4().bytes)
    # One key per person: the same person again gets the same reference.
    assert vault.seal(Person(phone="+86 138 1234 5678", id_number="110101199003071234"),
                      aad).person_ref == sealed.person_ref
    assert vault.forget(sealed.person_ref)
    with pytest.raises(PersonForgotten):
        vault.unseal(sealed, aad)
    assert not vault.forget(sealed.person_ref)


def test_person_references_are_keyed_not_bare_hashes(vault: PersonalDataVault) -> None:
    other = PersonalDataVault(create_engine("sqlite://"))  # another pepper
    p = Person(phone="13812345678")
    assert vault.person_ref(p) != other.person_ref(p)
    assert vault.person_ref(Person(name="匿名")) != vault.person_ref(Person(name="匿名"))


def test_transport_envelope_round_trip_and_tampering(vault: PersonalDataVault) -> None:
    envelope = seal_for_transport(vault.transport_public_pem(), {"phone": "13812345678"})
    assert "13812345678" not in str(envelope)
    assert vault.open_transport(envelope) == {"phone": "13812345678"}
    tampered = {**envelope, "ct": envelope["ct"][:-4] + "AAAA"}
    with pytest.raises(TransportError):
        vault.open_transport(tampered)
    with pytest.raises(TransportError):
        vault.open_transport({**envelope, "kid": "someone-else"})
    with pytest.raises(TransportError):
        vault.open_transport({"alg": "none"})
