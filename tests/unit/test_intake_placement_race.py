"""A dispatcher places a report while intake records what dedup did with it: the
placement is read again and redone, not refused with a 409 (seen in an e2e run)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.channels import GridReport, normalise
from services.intake.settings import IntakeSettings
from shared.events import Actor, Location
from shared.runtime.meta import command_meta

DISPATCHER = Actor(id="dsp-1", role="dispatcher", name="调度员")


@pytest.fixture
def app(tmp_path: Path) -> Any:
    a = IntakeApplication(IntakeSettings(service_name="intake", data_dir=tmp_path))
    yield a
    a.close()


def test_a_placement_that_meets_a_status_change_is_redone(app: IntakeApplication) -> None:
    body = {"category": "urban.garbage", "description": "路口垃圾堆放",
            "location": {"lon": 100.0, "lat": 30.0}}  # outside every grid
    gw = Actor(id="gw-1", role="grid_worker", name="网格员")
    receipt = app.receive_many([normalise(GridReport.model_validate(body), gw,
                                          now=datetime.now(UTC), city="350300")])[0]
    assert not receipt.placed
    rid = receipt.report_id
    read = app.get_report
    raced: list[bool] = []

    def read_then_race(report_id: uuid.UUID) -> Any:
        report = read(report_id)
        if not raced:  # the consumer records dedup's decision between read and save
            raced.append(True)
            other = read(report_id)
            assert other is not None
            other.follow("evt-1", "in_review", None, "", command_meta(DISPATCHER, rid))
            app.save(other)
        return report

    app.get_report = read_then_race  # type: ignore[method-assign]
    placed = app.place_manually(rid, None, Location(lon=119.02, lat=25.44), DISPATCHER)
    assert raced and placed.placed and len(placed.area_path) == 5
    stored = read(rid)
    assert stored is not None and stored.placed and stored.status == "in_review"
