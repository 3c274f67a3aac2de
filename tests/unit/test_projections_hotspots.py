"""Hotspots are found by a Poisson test against the place's own history and the city's
rate, not by a fixed count: the same count is a hotspot in one grid and not in another."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from services.projections.aggregates import CITY_TZ
from services.projections.hotspots import Window, poisson_sf
from services.projections.readmodel import CaseReadModel
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Inbound
from tests.unit.test_projections_readmodel import registered

CITY = "350300"
VILLAGE = "350300/350302/350302001/350302001001"
GRIDS = [f"{VILLAGE}/350302001001{i:03d}" for i in range(1, 11)]
AS_OF = date(2026, 5, 31)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CITY_TZ)


def test_poisson_tail() -> None:
    assert poisson_sf(0, 2.0) == 1.0
    assert poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2))
    assert poisson_sf(3, 1.0) == pytest.approx(1 - math.exp(-1) * (1 + 1 + 0.5))
    assert 0 < poisson_sf(60, 0.25) < 1e-100  # far tails stay positive and tiny


@pytest.fixture
def model(tmp_path: Path) -> CaseReadModel:
    m = CaseReadModel(ServiceSettings(service_name="projections", data_dir=tmp_path))
    events = []
    window_start = AS_OF - timedelta(days=6)
    # Background: each grid reports some garbage now and then over the baseline weeks.
    for day in range(56):
        d = window_start - timedelta(days=56 - day)
        for i, grid in enumerate(GRIDS):
            if (day + i) % 7 == 0:
                events.append(registered(uuid.uuid4(), grid, "urban.garbage", at(d)))
    # Grid 10 always has e-bike reports: one every day, before and during the window.
    for day in range(63):
        d = window_start - timedelta(days=56) + timedelta(days=day)
        events.append(registered(uuid.uuid4(), GRIDS[9], "safety.ebike_charging", at(d)))
    for k in range(8):  # Grid 1: eight e-bike reports this week, never any before.
        events.append(registered(uuid.uuid4(), GRIDS[0], "safety.ebike_charging",
                                 at(window_start + timedelta(days=k % 7))))
    for grid in GRIDS:  # Summer noise everywhere: three per grid this week.
        for k in range(3):
            events.append(registered(uuid.uuid4(), grid, "environment.noise",
                                     at(window_start + timedelta(days=k))))
    messages = [Inbound("gov.dedup.events", 0, i, e) for i, e in enumerate(events)]
    for i in range(0, len(messages), 500):
        m.process_batch(messages[i : i + 500])
    return m


def test_only_the_unusual_concentration_is_a_hotspot(model: CaseReadModel) -> None:
    found = model.hotspots(CITY, 5, Window(as_of=AS_OF, days=7, baseline_days=56))
    assert [(h["code"], h["category"], h["observed"]) for h in found] == [
        ("350302001001001", "safety.ebike_charging", 8)]
    spot = found[0]
    assert spot["expected"] < 1 and spot["p_value"] < 1e-4 and spot["z"] > 5
    assert spot["suggested_action"]["code"] == "consultation"
    assert "会商研判" in spot["suggested_action"]["zh"]
    # Grid 10's eight e-bike reports this week are its usual rate, not a hotspot;
    # ten grids with three noise reports each are a city-wide rise, not one area's.


def test_hotspots_at_village_level_and_outside_the_window(model: CaseReadModel) -> None:
    village = model.hotspots(CITY, 4, Window(as_of=AS_OF, days=7, baseline_days=56))
    assert all(h["code"] == "350302001001" for h in village)
    later = model.hotspots(CITY, 5, Window(as_of=AS_OF + timedelta(days=30), days=7))
    assert later == []  # a month later nothing is unusual any more
