"""Channel adapters and the intake application, without a broker: one validation for
HTTP and Kafka, normalisation, idempotence, dead letters, and following the case."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import create_engine, select

from services.intake.application import IntakeApplication
from services.intake.channels import (
    MODELS,
    ChannelMessage,
    HotlineTransfer,
    derive_category,
    normalise,
    topic_parser,
)
from services.intake.index import ReportIndex
from services.intake.index import reports as report_index
from services.intake.settings import IntakeSettings
from shared.catalogue import is_category
from shared.events import Actor, Channel, ContractError
from shared.events.dedup import CaseRegistered, ReportMerged
from shared.events.dispatch import CaseClosed, CaseDispatched
from shared.events.intake import CaseReported
from shared.pii import Person, find_personal_patterns, seal_for_transport
from shared.runtime.store import DeadLetter, Inbound

PHONE = "13812345678"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPOT = {"lon": 119.02, "lat": 25.44}
OPERATOR = Actor(id="op-1", role="hotline_operator")


def hotline(ref: str = "GD-1", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"work_order_no": ref, "call_time": "2026-03-02T09:05:00+08:00",
                            "caller": {"name": "张三", "phone": PHONE},
                            "content": f"楼下油烟很大，电话{PHONE}",
                            "hotline_category": "生态环境/大气污染/餐饮油烟", "location": SPOT}
    body.update(over)
    return body


@pytest.fixture
def app(tmp_path: Path) -> Any:
    a = IntakeApplication(IntakeSettings(service_name="intake", data_dir=tmp_path))
    yield a
    a.close()


def test_normalise_keeps_channel_reference_and_the_channels_own_category() -> None:
    draft = normalise(HotlineTransfer.model_validate(hotline()), OPERATOR, now=NOW)
    assert draft.channel is Channel.HOTLINE_12345 and draft.external_ref == "GD-1"
    assert draft.category == "environment.oily_smoke"
    assert draft.source_category == "生态环境/大气污染/餐饮油烟"
    assert PHONE not in draft.description and "138****5678" in draft.description
    assert draft.person is not None and draft.person.phone == PHONE  # sealed later


@given(st.text(max_size=40))
def test_derived_categories_are_ours_or_none(text: str) -> None:
    code = derive_category(text)
    assert code is None or is_category(code)


@given(st.binary(max_size=200))
def test_any_bytes_on_a_channel_topic_parse_or_raise_contract_error(raw: bytes) -> None:
    for channel in MODELS:
        with contextlib.suppress(ContractError):
            topic_parser(channel)(raw)


refs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,30}", fullmatch=True)
contents = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=2, max_size=60)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(ref=refs, content=contents, phone=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_http_and_topic_paths_share_one_validation(app: IntakeApplication, ref: str,
                                                   content: str, phone: str) -> None:
    body = hotline(ref, content=content.strip() or "内容", caller={"phone": phone})
    try:
        http = HotlineTransfer.model_validate(body)
    except ValueError:
        http = None
    sealed = {**body, "caller": seal_for_transport(app.vault.transport_public_pem(),
                                                   body["caller"])}
    try:
        message = topic_parser(Channel.HOTLINE_12345)(json.dumps(sealed).encode())
    except ContractError as exc:
        assert http is None
        assert phone not in str(exc) and content not in str(exc)
        return
    assert http is not None
    assert message.body.model_dump(exclude={"caller"}) == http.model_dump(exclude={"caller"})


def test_plain_personal_data_is_refused_on_kafka() -> None:
    with pytest.raises(ContractError, match="sealed for intake") as caught:
        topic_parser(Channel.HOTLINE_12345)(json.dumps(hotline()).encode())
    assert PHONE not in str(caught.value)


def test_a_nul_character_in_any_text_is_refused_on_http_and_on_kafka(
        app: IntakeApplication) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        HotlineTransfer.model_validate(hotline(content="油烟\x00很大"))
    with pytest.raises(ValidationError, match="NUL"):
        HotlineTransfer.model_validate(hotline(attachments=["ok", "a\x00b"]))
    raw = sealed_hotline(app, "GD-NUL", content="油烟\x00很大")
    with pytest.raises(ContractError, match="NUL"):
        topic_parser(Channel.HOTLINE_12345)(raw)


def inbound(topic: str, offset: int, value: bytes, channel: Channel) -> Inbound:
    try:
        event: Any = topic_parser(channel)(value)
        return Inbound(topic, 0, offset, event)
    except ContractError as exc:
        return Inbound(topic, 0, offset, None, str(exc))


def sealed_hotline(app: IntakeApplication, ref: str, **over: Any) -> bytes:
    body = hotline(ref, **over)
    body["caller"] = seal_for_transport(app.vault.transport_public_pem(), body["caller"])
    return json.dumps(body).encode()


def test_a_topic_batch_records_once_and_dead_letters_what_it_cannot_use(
        app: IntakeApplication) -> None:
    t = "gov.channel.hotline_12345"
    batch = [inbound(t, 0, sealed_hotline(app, "GD-7"), Channel.HOTLINE_12345),
             inbound(t, 1, sealed_hotline(app, "GD-7"), Channel.HOTLINE_12345),  # resent
             inbound(t, 2, sealed_hotline(app, "GD-8", unit_code="999999999999999999",
                                          location=None), Channel.HOTLINE_12345),
             inbound(t, 3, b"{", Channel.HOTLINE_12345)]
    assert app.process_batch(batch)
    assert not app.process_batch(batch)  # redelivered: nothing recorded
    kinds = [type(app.mapper.to_domain_event(n)).__qualname__
             for n in app.recorder.select_notifications(1, 20)]
    assert kinds == ["Report.Received", "DeadLetter.Recorded", "DeadLetter.Recorded"]
    letters: list[Any] = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 20)
               if "DeadLetter" in type(app.mapper.to_domain_event(n)).__qualname__]
    assert letters[0].error.startswith("unknown_place")
    assert all(PHONE not in str(vars(x)) for x in letters)
    assert isinstance(letters[0], DeadLetter.Recorded)  # type: ignore[attr-defined]


def test_the_reported_event_carries_sealed_and_masked_personal_data(
        app: IntakeApplication) -> None:
    from services.intake.outbox import to_integration
    from shared.events import serialize_event

    app.process_batch([inbound("gov.channel.hotline_12345", 0, sealed_hotline(app, "GD-9"),
                               Channel.HOTLINE_12345)])
    event = to_integration(app.mapper.to_domain_event(app.recorder.select_notifications(1, 1)[0]))
    assert isinstance(event, CaseReported)
    wire = serialize_event(event).decode()
    assert find_personal_patterns(wire) == [] and PHONE not in wire
    assert event.contact is not None and event.contact.phone_masked == "138****5678"
    person = app.vault.unseal({"person_ref": event.contact.person_ref, "nonce": event.contact.nonce,
                               "ciphertext": event.contact.ciphertext}, event.report_id.bytes)
    assert person.phone == PHONE


def test_intake_follows_the_case_and_ignores_republished_events(app: IntakeApplication) -> None:
    msg = topic_parser(Channel.HOTLINE_12345)(sealed_hotline(app, "GD-10"))
    assert isinstance(msg, ChannelMessage)
    app.process_batch([Inbound("gov.channel.hotline_12345", 0, 0, msg)])  # type: ignore[arg-type]
    rid = msg.event_id
    closed = CaseClosed(event_id=uuid.uuid4(), case_id=rid, occurred_at=NOW, producer="dispatch",
                        correlation_id=rid, actor=Actor(id="d", role="dispatcher"),
                        department="ecology", on_time=True)
    app.process_batch([Inbound("gov.dispatch.events", 0, 0, closed),
                       Inbound("gov.dispatch.events", 0, 1, closed)])  # republished copy
    report = app.get_report(rid)
    assert report is not None and report.status == "closed" and report.department == "ecology"
    assert len(report.seen) == 1
    app.index.catch_up()
    row = app.index.get(str(rid))
    assert row is not None and row["status"] == "closed"


def test_a_registration_that_arrives_after_the_dispatch_does_not_take_the_status_back(
        app: IntakeApplication) -> None:
    """Dedup's and dispatch's events come on two topics: one poll may bring a case's
    dispatch first. The report stays dispatched, in its aggregate and in the index."""
    msg = topic_parser(Channel.HOTLINE_12345)(sealed_hotline(app, "GD-15"))
    assert isinstance(msg, ChannelMessage)
    app.process_batch([Inbound("gov.channel.hotline_12345", 0, 0, msg)])  # type: ignore[arg-type]
    rid = msg.event_id

    def envelope(producer: str) -> dict[str, Any]:
        return {"event_id": uuid.uuid4(), "case_id": rid, "occurred_at": NOW,
                "producer": producer, "correlation_id": rid,
                "actor": Actor(id=producer, role="system")}

    registered = CaseRegistered(**envelope("dedup"), report_id=rid,
                                channel=Channel.HOTLINE_12345, category="urban.garbage",
                                description="d", area_path=("350300",), reported_at=NOW)
    dispatched = CaseDispatched(**envelope("dispatch"), department="ecology",
                                category="urban.garbage", area_path=("350300",), round=1,
                                sign_deadline=NOW, handle_deadline=NOW)
    app.record_poll([[Inbound("gov.dispatch.events", 0, 0, dispatched)],
                     [Inbound("gov.dedup.events", 0, 0, registered)]])
    report = app.get_report(rid)
    assert report is not None and (report.status, report.department) == ("dispatched", "ecology")
    app.index.catch_up()
    assert (app.index.get(str(rid)) or {}).get("status") == "dispatched"


def test_the_report_index_is_the_same_however_many_events_a_catch_up_applies(
        app: IntakeApplication, tmp_path: Path) -> None:
    """A catch-up folds its events per report before writing (one insert, an update per
    set of columns): the table must be what one event at a time makes of the log."""
    reports = []
    for i, ref in enumerate(("GD-20", "GD-21", "GD-22")):
        msg = topic_parser(Channel.HOTLINE_12345)(sealed_hotline(app, ref))
        app.process_batch([Inbound("gov.channel.hotline_12345", 0, i, msg)])  # type: ignore[arg-type]
        reports.append(msg.event_id)  # type: ignore[union-attr]
    first, second, third = reports
    who = Actor(id="d", role="dispatcher")
    closed = CaseClosed(event_id=uuid.uuid4(), case_id=first, occurred_at=NOW,
                        producer="dispatch", correlation_id=first, actor=who,
                        department="ecology", on_time=True)
    merged = ReportMerged(event_id=uuid.uuid4(), case_id=first, occurred_at=NOW,
                          producer="dedup", correlation_id=first, actor=who,
                          report_id=second, report_case_id=second,
                          channel=Channel.HOTLINE_12345)
    app.process_batch([Inbound("gov.dispatch.events", 0, 0, closed),
                       Inbound("gov.dedup.events", 0, 0, merged)])
    app.index.catch_up()  # erasure finds the person's reports through the index
    app.erase_persons([app.vault.person_ref(Person(phone=PHONE))], "person_request", who)

    def table(batch: int) -> list[Any]:
        engine = create_engine(f"sqlite:///{tmp_path / f'index-{batch}.sqlite'}")
        index = ReportIndex(engine, app, batch=batch)
        while index.catch_up():
            pass
        with engine.connect() as c:
            return sorted(c.execute(select(report_index)).all(), key=lambda r: r.report_id)

    one_by_one, together = table(1), table(1000)
    assert one_by_one == together
    rows = {r.report_id: r for r in together}
    assert rows[str(first)].status == "closed" and rows[str(first)].department == "ecology"
    assert (rows[str(second)].status, rows[str(second)].case_id) == ("merged", str(first))
    assert all(r.contact["erased"] for r in rows.values())  # all three: the same caller
    assert rows[str(third)].status == "reported"
