"""The contact person of a report: unmasked only on record, erased by deleting their key
(crypto-shredding) while the recorded events stay as they were."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.channels import GridReport, HotlineTransfer, normalise
from services.intake.outbox import to_integration
from services.intake.settings import IntakeSettings
from shared.events import Actor, IntegrationEvent, serialize_event
from shared.events.intake import ContactUnmasked, PersonErased
from shared.pii import Person, find_personal_patterns
from shared.runtime.store import DomainError

PHONE = "13812345678"
OPERATOR = Actor(id="op-1", role="hotline_operator", name="话务员")
ADMIN = Actor(id="admin-1", role="administrator")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[IntakeApplication]:
    a = IntakeApplication(IntakeSettings(service_name="intake", data_dir=tmp_path))
    yield a
    a.close()


def report(app: IntakeApplication, ref: str, caller: dict[str, str]) -> Any:
    body = {"work_order_no": ref, "call_time": "2026-03-02T09:05:00+08:00", "caller": caller,
            "content": "楼下油烟很大", "hotline_category": "生态环境/大气污染/餐饮油烟",
            "location": {"lon": 119.02, "lat": 25.44}}
    draft = normalise(HotlineTransfer.model_validate(body), OPERATOR, now=datetime.now(UTC))
    return app.receive_many([draft])[0].report_id


def published(app: IntakeApplication) -> list[IntegrationEvent]:
    found = app.recorder.select_notifications(1, 1000)
    events = (to_integration(app.mapper.to_domain_event(n)) for n in found)
    return [e for e in events if e is not None]


def test_unmasking_is_recorded_with_its_purpose_and_never_the_data(app: IntakeApplication
                                                                   ) -> None:
    rid = report(app, "GD-1", {"name": "张三", "phone": PHONE})
    person = app.unmask_contact(rid, f"回访，号码{PHONE}", OPERATOR)
    assert person == Person(name="张三", phone=PHONE)
    unmasked = [e for e in published(app) if isinstance(e, ContactUnmasked)]
    assert len(unmasked) == 1 and unmasked[0].actor.id == "op-1"
    assert unmasked[0].case_id == rid and unmasked[0].person_role == "caller"
    assert PHONE not in unmasked[0].purpose and unmasked[0].purpose.startswith("回访")
    assert find_personal_patterns(serialize_event(unmasked[0]).decode()) == []


def test_a_report_without_contact_has_nothing_to_unmask(app: IntakeApplication) -> None:
    body = GridReport(category="urban.garbage", description="垃圾桶满溢",
                      location={"lon": 119.02, "lat": 25.44})  # type: ignore[arg-type]
    rid = app.receive_many([normalise(body, Actor(id="gw-1", role="grid_worker"),
                                      now=datetime.now(UTC))])[0].report_id
    with pytest.raises(DomainError) as refused:
        app.unmask_contact(rid, "回访核实", OPERATOR)
    assert refused.value.rule == "no_contact"
    assert app.erase_persons([], "person_request", ADMIN) == []


def test_erasing_a_person_shreds_every_report_of_theirs_once(app: IntakeApplication) -> None:
    first = report(app, "GD-4", {"name": "张三", "phone": PHONE})
    second = report(app, "GD-5", {"phone": "+86 138-1234-5678"})  # the same person
    other = report(app, "GD-6", {"phone": "13900001111"})
    app.index.catch_up()
    ref = app.vault.person_ref(Person(phone=PHONE))
    assert sorted(app.erase_persons([ref], "person_request", ADMIN)) == sorted([first, second])
    for rid in (first, second):
        with pytest.raises(DomainError) as refused:
            app.unmask_contact(rid, "回访核实", OPERATOR)
        assert refused.value.rule == "personal_data_erased"
    assert app.unmask_contact(other, "回访核实", OPERATOR).phone == "13900001111"
    app.erase_persons([ref], "person_request", ADMIN)  # asked again: nothing new recorded
    erased = [e for e in published(app) if isinstance(e, PersonErased)]
    assert sorted(e.report_id for e in erased) == sorted([first, second])
    assert all(e.person_ref == ref and e.actor.id == "admin-1" for e in erased)
    app.index.catch_up()
    row = app.index.get(str(first))
    assert row is not None and row["contact"]["erased"] and row["contact"]["phone_masked"] == ""


def test_a_key_deleted_before_the_erasure_was_recorded_still_refuses(app: IntakeApplication
                                                                     ) -> None:
    rid = report(app, "GD-7", {"phone": PHONE})
    app.vault.forget(app.vault.person_ref(Person(phone=PHONE)))
    with pytest.raises(DomainError) as refused:
        app.unmask_contact(rid, "回访核实", OPERATOR)
    assert refused.value.rule == "personal_data_erased"
    assert not [e for e in published(app) if isinstance(e, ContactUnmasked)]
