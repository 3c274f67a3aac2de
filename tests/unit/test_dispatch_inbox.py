"""The department inbox of the read model: urgent first, then by the next deadline;
scoped by the caller; re-dispatch, extensions and urgency overrides keep it current."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.projections.bootstrap import SPEC
from services.projections.readmodel import CaseReadModel
from shared.events import Actor, Channel, IntegrationEvent
from shared.events.dedup import CaseRegistered
from shared.events.dispatch import (
    CaseDispatched,
    CaseExtensionGranted,
    CaseReturned,
    CaseSignedFor,
    CaseUrgencyChanged,
)
from shared.runtime.auth import issue_token
from shared.runtime.service import create_http_app
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound

SECRET = "inbox-test-secret-" + "y" * 32
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PATH_A = ("350300", "350302", "350302001")
PATH_B = ("350300", "350303", "350303001")
WHO = Actor(id="t", role="system")


def env(case_id: uuid.UUID, producer: str, minutes: int) -> dict[str, Any]:
    return {"event_id": uuid.uuid4(), "case_id": case_id,
            "occurred_at": T0 + timedelta(minutes=minutes), "producer": producer,
            "correlation_id": case_id, "actor": WHO}


class Feed:
    def __init__(self, tmp: Path) -> None:
        self.model = CaseReadModel(ServiceSettings(service_name="projections", data_dir=tmp))
        self.offset = 0

    def send(self, *events: IntegrationEvent) -> None:
        topic = {"dedup": "gov.dedup.events", "dispatch": "gov.dispatch.events"}
        for e in events:
            assert self.model.process_batch([Inbound(topic[e.producer], 0, self.offset, e)])
            self.offset += 1

    def case(self, dept: str, path: tuple[str, ...], urgency: str, sign_h: int,
             handle_h: int) -> uuid.UUID:
        cid = uuid.uuid4()
        self.send(
            CaseRegistered(**env(cid, "dedup", 0), report_id=cid, channel=Channel.GRID_APP,
                           category="urban.garbage", description="d", area_path=path,
                           reported_at=T0),
            CaseDispatched(**env(cid, "dispatch", 1), department=dept, category="urban.garbage",
                           area_path=path, urgency=urgency, round=1,  # type: ignore[arg-type]
                           sign_deadline=T0 + timedelta(hours=sign_h),
                           handle_deadline=T0 + timedelta(hours=handle_h)))
        return cid


@pytest.fixture
def feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Feed]:
    monkeypatch.setenv("GOV_AUTH_SECRET", SECRET)
    f = Feed(tmp_path)
    yield f
    f.model.close()


def read(feed: Feed, dept: str, role: str = "department_staff", place: str = "350300",
         who_dept: str | None = "urban_mgmt") -> Any:
    http = TestClient(create_http_app(SPEC, SimpleNamespace(sink=feed.model)))  # type: ignore[arg-type]
    token = issue_token("u", role, place, "", who_dept if role == "department_staff" else None,
                        key=SECRET)
    return http.get(f"/api/departments/{dept}/inbox", headers={"Authorization": f"Bearer {token}"})


def test_urgent_first_then_by_the_next_deadline(feed: Feed) -> None:
    late = feed.case("urban_mgmt", PATH_A, "normal", sign_h=5, handle_h=50)
    soon = feed.case("urban_mgmt", PATH_A, "normal", sign_h=2, handle_h=40)
    urgent = feed.case("urban_mgmt", PATH_B, "urgent", sign_h=9, handle_h=60)
    signed = feed.case("urban_mgmt", PATH_A, "normal", sign_h=1, handle_h=3)
    feed.send(CaseSignedFor(**env(signed, "dispatch", 2), department="urban_mgmt"))
    feed.case("police", PATH_A, "urgent", sign_h=1, handle_h=2)  # another department's
    body = read(feed, "urban_mgmt").json()
    # soon (sign due +2h) before signed (handle due +3h) before late (sign due +5h).
    assert [i["case_id"] for i in body["items"]] == [str(x) for x in (urgent, soon, signed, late)]
    assert body["total"] == 4

    # An urgency override moves a case to the front; a granted extension moves its due.
    feed.send(CaseUrgencyChanged(**env(late, "dispatch", 3), department="urban_mgmt",
                                 urgency="urgent", previous="normal", reason="学校门口"))
    feed.send(CaseExtensionGranted(**env(signed, "dispatch", 4), department="urban_mgmt",
                                   handle_deadline=T0 + timedelta(hours=80),
                                   previous_deadline=T0 + timedelta(hours=3)))
    order = [i["case_id"] for i in read(feed, "urban_mgmt").json()["items"]]
    assert order == [str(x) for x in (late, urgent, soon, signed)]  # urgent by sign due


def test_a_returned_case_leaves_the_inbox_and_a_redispatch_lands_in_the_next(feed: Feed) -> None:
    cid = feed.case("urban_mgmt", PATH_A, "normal", sign_h=2, handle_h=20)
    feed.send(CaseReturned(**env(cid, "dispatch", 2), department="urban_mgmt", reason="不属城管"))
    assert read(feed, "urban_mgmt").json()["total"] == 0
    feed.send(CaseDispatched(**env(cid, "dispatch", 3), department="ecology",
                             category="urban.garbage", area_path=PATH_A, round=2,
                             sign_deadline=T0 + timedelta(hours=4),
                             handle_deadline=T0 + timedelta(hours=30), reason="redispatched"))
    items = read(feed, "ecology", who_dept="ecology").json()["items"]
    assert [i["case_id"] for i in items] == [str(cid)]
    assert items[0]["status"] == "dispatched"


def test_the_inbox_is_scoped_by_the_caller(feed: Feed) -> None:
    feed.case("urban_mgmt", PATH_A, "normal", sign_h=2, handle_h=20)
    feed.case("urban_mgmt", PATH_B, "normal", sign_h=2, handle_h=20)
    assert read(feed, "urban_mgmt", place="350302").json()["total"] == 1
    assert read(feed, "police").status_code == 403  # staff of urban_mgmt
    assert read(feed, "urban_mgmt", role="leader", place="350303").json()["total"] == 1
    assert read(feed, "urban_mgmt", role="grid_worker").status_code == 403
    assert read(feed, "no_such", role="dispatcher").status_code == 404
