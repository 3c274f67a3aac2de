"""The life of a case in dispatch, told step by step (the bankaccounts narrative style)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain import Case, Status
from shared.runtime.store import DomainError

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
META = {"actor": {"id": "u1", "role": "department_staff", "name": ""},
        "correlation_id": str(uuid.uuid4()), "causation_id": None}


def new_case() -> Case:
    return Case(id=uuid.uuid4(), category="urban.garbage", area_path=["350300", "350302"],
                channel="grid_app", department="urban_mgmt", level="district",
                handling_place="350302", list_version=1, rule={}, urgency="normal",
                urgency_reasons=[], sign_deadline=T0 + timedelta(hours=1),
                handle_deadline=T0 + timedelta(hours=4), return_deadline=T0 + timedelta(hours=14),
                warnings=[], meta=META)


def test_a_case_walks_the_closed_loop() -> None:
    case = new_case()
    assert case.status is Status.DISPATCHED and case.version == 1

    case.sign_for("urban_mgmt", META)
    assert case.status is Status.SIGNED_FOR

    case.handle("urban_mgmt", "已清运", ["photo://1"], T0 + timedelta(hours=2), META)
    assert case.status is Status.HANDLED

    # The grid worker finds it not done: back to the same department, with a new deadline.
    case.verify(False, "on_site", "垃圾仍在", None, T0 + timedelta(hours=8), META)
    assert case.status is Status.SIGNED_FOR and case.reopen_count == 1
    assert case.handle_deadline == T0 + timedelta(hours=8)

    case.handle("urban_mgmt", "已彻底清运", [], T0 + timedelta(hours=5), META)
    case.verify(True, "call_back", "群众满意", 5, T0, META)
    assert case.status is Status.VERIFIED

    case.close(META)
    assert case.status is Status.CLOSED
    case.evaluate(5, "", META)
    assert case.status is Status.EVALUATED

    events = case.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Dispatched", "SignedFor", "Handled", "Verified", "Reopened", "Handled", "Verified",
        "Closed", "Evaluated"]
    assert case.version == len(events)


def test_closed_on_time_only_when_handled_before_the_deadline() -> None:
    late = new_case()
    late.sign_for("urban_mgmt", META)
    late.handle("urban_mgmt", "done", [], T0 + timedelta(hours=9), META)
    late.verify(True, "on_site", "", None, T0, META)
    late.close(META)
    assert late.collect_events()[-1].on_time is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("step", "rule"),
    [
        (lambda c: c.handle("urban_mgmt", "x", [], T0, META), "handle_requires_signed_for"),
        (lambda c: c.close(META), "close_requires_verification"),
        (lambda c: c.verify(True, "on_site", "", None, T0, META), "verify_requires_handled"),
        (lambda c: c.sign_for("police", META), "not_assigned_department"),
        (lambda c: c.evaluate(5, "", META), "evaluate_requires_closed"),
    ],
)
def test_an_illegal_step_names_its_rule_and_changes_nothing(step, rule) -> None:  # type: ignore[no-untyped-def]
    case = new_case()
    before = (case.version, case.status)
    with pytest.raises(DomainError) as refused:
        step(case)
    assert refused.value.rule == rule
    assert (case.version, case.status) == before
    assert len(case.collect_events()) == 1  # only the creation


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    case = new_case()
    case.sign_for("urban_mgmt", META)
    case.handle("urban_mgmt", "done", [], T0, META)
    events = case.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None
    assert (replayed.status, replayed.version, replayed.handled_at) == (
        case.status, case.version, case.handled_at)
