"""The exactly-once core on the embedded store: batches recorded with their tracking row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.dedup.application import DedupApplication
from services.dedup.outbox import to_integration
from shared.events import Actor, Channel, parse_event, serialize_event
from shared.events.intake import CaseReported
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import DeadLetter, Inbound

TOPIC = "gov.intake.events"
# Different categories: genuinely different problems, never merged by duplicate detection.
CATEGORIES = ("urban.garbage", "safety.gas", "food.expired", "order.fight", "market.price")


def reported(n: int) -> CaseReported:
    case_id = uuid.uuid5(uuid.NAMESPACE_URL, f"report-{n}")
    return CaseReported(
        event_id=uuid.uuid4(), case_id=case_id, occurred_at=datetime.now(UTC), producer="intake",
        correlation_id=case_id, actor=Actor(id="gw-1", role="grid_worker"),
        report_id=case_id, channel=Channel.GRID_APP, external_ref=f"r{n}",
        category=CATEGORIES[n % len(CATEGORIES)], description=f"第{n}个不同的问题",
        area_path=("350300",),
        reported_at=datetime.now(UTC))


@pytest.fixture
def app(tmp_path: Path) -> DedupApplication:
    return DedupApplication(ServiceSettings(service_name="dedup", data_dir=tmp_path))


def batch(events: list[CaseReported | None], first_offset: int = 0) -> list[Inbound]:
    return [Inbound(TOPIC, 0, first_offset + i, e, None if e else "not JSON")
            for i, e in enumerate(events)]


def test_a_batch_records_its_effects_and_tracking_once(app: DedupApplication) -> None:
    events = [reported(i) for i in range(5)]
    assert app.process_batch(batch(list(events))) is True
    assert app.tracked_position(TOPIC, 0) == 5
    recorded = app.recorder.max_notification_id()
    assert recorded is not None and recorded >= 5  # at least one decision per report

    # Redelivered after a crash before the offset commit: nothing new is recorded.
    assert app.process_batch(batch(list(events))) is False
    assert app.recorder.max_notification_id() == recorded


def test_a_poll_records_every_partition_in_one_go_and_skips_a_redelivered_one(
        app: DedupApplication) -> None:
    first = [Inbound(TOPIC, 0, 0, reported(10))]
    assert app.process_batch(first) is True
    recorded = app.recorder.max_notification_id()
    # A poll after a rebalance: partition 0 again (recorded by now), 1 and 2 are new.
    others = [[Inbound(TOPIC, p, 0, reported(10 + p)), Inbound(TOPIC, p, 1, reported(20 + p))]
              for p in (1, 2)]
    assert app.process_partitions([first, *others]) == [False, True, True]
    assert [app.tracked_position(TOPIC, p) for p in (0, 1, 2)] == [1, 2, 2]
    received = [n for n in app.recorder.select_notifications((recorded or 0) + 1, 100)
                if n.topic.endswith("Received")]
    assert len(received) == 4  # the two new partitions' reports, none of partition 0's
    # The whole poll again: nothing is recorded twice.
    top = app.recorder.max_notification_id()
    assert app.process_partitions([first, *others]) == [False, False, False]
    assert app.recorder.max_notification_id() == top


def test_a_republished_event_at_a_new_offset_changes_nothing(app: DedupApplication) -> None:
    event = reported(1)
    app.process_batch(batch([event]))
    recorded = app.recorder.max_notification_id()
    app.process_batch(batch([event], first_offset=1))  # the relay sent it twice
    assert app.recorder.max_notification_id() == recorded
    assert app.tracked_position(TOPIC, 0) == 2


def test_a_bad_message_becomes_one_dead_letter_and_the_batch_goes_on(
        app: DedupApplication) -> None:
    app.process_batch(batch([reported(1), None, reported(2)]))
    stored = [app.mapper.to_domain_event(n)
              for n in app.recorder.select_notifications(1, 10)]
    letters = [e for e in stored if isinstance(e, DeadLetter.Recorded)]  # type: ignore[attr-defined]
    assert len(letters) == 1 and letters[0].origin_offset == 1
    assert letters[0].error == "not JSON"
    decided = [e for e in stored if type(e).__name__ == "Received"]
    assert len(decided) == 2  # both good reports were decided, around the bad one


def test_registered_case_translates_to_the_public_contract(app: DedupApplication) -> None:
    event = reported(3)
    app.process_batch(batch([event]))
    stored = app.mapper.to_domain_event(app.recorder.select_notifications(1, 1)[0])
    public = to_integration(stored)
    assert public is not None and public.event_type == "case.registered"
    assert public.case_id == event.case_id and public.causation_id == event.event_id
    assert public.correlation_id == event.correlation_id
    # Round trip through the wire format.
    assert parse_event(serialize_event(public)) == public
    # The same stored event always yields the same event id (republish detection).
    assert to_integration(stored).event_id == public.event_id  # type: ignore[union-attr]
