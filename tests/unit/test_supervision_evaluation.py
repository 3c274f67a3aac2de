"""Evaluation (跟踪问效) on a scripted scenario, against figures computed by hand.

Six cases in two districts (A: 350302, B: 350303), evaluated on Thursday 10 December 2026
at 10:00. Office hours 08:30-12:00 and 14:00-17:30 (7 working hours a day).

C1 A urban_mgmt  signed on time, handled on time, verified (5), closed on time, evaluated 5;
                 a second report merged into it (volume only)
C2 A urban_mgmt  signed late, handled 2 working hours late, verification failed, reopened,
                 handled again in time, verified (3), closed on time
C3 B urban_mgmt  never signed; handle deadline Thu 3 Dec 17:30 passed: 29.5 h overrun by now
C4 B police      returned on time; re-dispatched (round 2) to urban_mgmt, signed in time,
                 handled, verified by call-back (4), closed on time
C5 A police      signed on time, handling not yet due
C6 A police      returned on time, waiting to be re-dispatched
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.evaluation import ScoreFormula
from shared.events import dedup, dispatch
from shared.events.envelope import Channel
from shared.runtime.clock import DrivenClock
from tests.unit.test_supervision_story import AREA_A, AREA_B, Story, t

UM, POLICE = "urban_mgmt", "police"

@pytest.fixture
def settings(tmp_path: Path) -> SupervisionSettings:
    return SupervisionSettings(service_name="supervision", data_dir=tmp_path, clock="driven")


@pytest.fixture
def app(settings: SupervisionSettings) -> SupervisionApplication:
    return SupervisionApplication(settings, clock=DrivenClock(t(1, 8, month=11)))


def scenario(story: Story) -> dict[str, uuid.UUID]:
    c = {n: uuid.uuid4() for n in ("C1", "C2", "C3", "C4", "C5", "C6")}
    s = story
    for name, area in (("C1", AREA_A), ("C2", AREA_A), ("C3", AREA_B), ("C4", AREA_B),
                       ("C5", AREA_A), ("C6", AREA_A)):
        s.report(c[name], t(1, 8, 30), area)

    s.dispatched(c["C1"], t(1, 9), t(1, 12), t(2, 17, 30))
    extra = uuid.uuid4()
    s.report(extra, t(1, 9, 30))
    s.feed(s.event(dedup.ReportMerged, c["C1"], t(1, 9, 31), report_id=extra,
                   report_case_id=extra, channel=Channel.HOTLINE_12345))
    s.step(dispatch.CaseSignedFor, c["C1"], t(1, 10), department=UM)
    s.step(dispatch.CaseHandled, c["C1"], t(1, 16), department=UM, result="done")
    s.step(dispatch.CaseVerified, c["C1"], t(2, 10), passed=True, method="on_site",
           satisfaction=5)
    s.step(dispatch.CaseClosed, c["C1"], t(2, 11), department=UM, on_time=True)
    s.step(dispatch.CaseEvaluated, c["C1"], t(2, 12), satisfaction=5)

    s.dispatched(c["C2"], t(1, 9), t(1, 12), t(2, 17, 30))
    s.step(dispatch.CaseSignedFor, c["C2"], t(1, 14, 30), department=UM)
    s.step(dispatch.CaseHandled, c["C2"], t(3, 10, 30), department=UM, result="done")
    s.step(dispatch.CaseVerified, c["C2"], t(3, 15), passed=False, method="on_site")
    s.step(dispatch.CaseReopened, c["C2"], t(3, 15), department=UM,
           handle_deadline=t(7, 17, 30))
    s.step(dispatch.CaseHandled, c["C2"], t(4, 9), department=UM, result="done again")
    s.step(dispatch.CaseVerified, c["C2"], t(4, 11), passed=True, method="on_site",
           satisfaction=3)
    s.step(dispatch.CaseClosed, c["C2"], t(4, 11, 30), department=UM, on_time=True)

    s.dispatched(c["C3"], t(2, 9), t(2, 12), t(3, 17, 30), area=AREA_B)

    s.dispatched(c["C4"], t(1, 9), t(1, 12), t(8, 17, 30), department=POLICE, area=AREA_B)
    s.step(dispatch.CaseReturned, c["C4"], t(1, 11), department=POLICE, reason="not ours")
    s.dispatched(c["C4"], t(1, 14), t(1, 17, 30), t(8, 17, 30), round=2, area=AREA_B)
    s.step(dispatch.CaseSignedFor, c["C4"], t(1, 15), department=UM)
    s.step(dispatch.CaseHandled, c["C4"], t(2, 10), department=UM, result="done")
    s.step(dispatch.CaseVerified, c["C4"], t(2, 15), passed=True, method="call_back",
           satisfaction=4)
    s.step(dispatch.CaseClosed, c["C4"], t(2, 16), department=UM, on_time=True)

    s.dispatched(c["C5"], t(7, 9), t(7, 12), t(11, 17, 30), department=POLICE)
    s.step(dispatch.CaseSignedFor, c["C5"], t(7, 9, 30), department=POLICE)

    s.dispatched(c["C6"], t(9, 9), t(9, 12), t(11, 17, 30), department=POLICE)
    s.step(dispatch.CaseReturned, c["C6"], t(9, 10), department=POLICE, reason="not ours")
    return c


@pytest.fixture
def evaluated(app: SupervisionApplication) -> SupervisionApplication:
    scenario(Story(app))
    app.clock.set(t(10, 10))  # type: ignore[attr-defined]
    return app


def everything(_: object) -> bool:
    return True


def test_department_figures_equal_the_hand_computed_ones(
        evaluated: SupervisionApplication) -> None:
    groups = evaluated.evaluate("department", everything)["groups"]
    um = groups[UM]
    # Dispatches to urban_mgmt: C1, C2, C3, C4 round 2. Signed in time: C1, C4 -> 2 of 4.
    assert um["rates"]["response_rate"] == 0.5
    # Due to close (应结案): C1, C2, C4 closed and C3 past its deadline; 3 closed on time.
    assert um["counts"]["due_to_close"] == 4 and um["rates"]["on_time_closure_rate"] == 0.75
    assert um["rates"]["closure_rate"] == 0.75
    assert um["rates"]["resolution_rate"] == 1.0  # C1, C2, C4: last verification passed
    assert um["rates"]["reopen_rate"] == pytest.approx(1 / 3, abs=1e-4)  # C2 of 3 handled
    assert um["rates"]["satisfaction_rate"] == pytest.approx(2 / 3, abs=1e-4)  # 5, 4 of 5, 3, 4
    assert um["rates"]["misrouted_return_rate"] == 0.0
    # Overdue: C2's first phase (Wed 17:30 -> Thu 10:30 = 2 h) and C3 (29.5 h by now).
    assert um["overdue_count"] == 2 and um["average_overrun_hours"] == 15.75
    # 100 × (.15×.5 + .30×.75 + .20×1 + .25×2/3 + .10×(1-1/3)) − 15.75 = 73.333 − 15.75
    assert um["score"] == pytest.approx(57.58, abs=0.006)
    assert um["volume"] == {"cases": 4, "reports": 5, "dispatches": 4}

    police = groups[POLICE]
    # Dispatches to police: C4 round 1, C5, C6; all answered in time, two by a return.
    assert police["rates"]["response_rate"] == 1.0
    assert police["rates"]["misrouted_return_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert police["counts"]["due_to_close"] == 0 and police["rates"][
        "on_time_closure_rate"] is None
    assert police["overdue_count"] == 0 and police["average_overrun_hours"] is None
    assert police["score"] == 100.0  # only the response rate is defined yet


def test_area_figures_at_district_level_equal_the_hand_computed_ones(
        evaluated: SupervisionApplication) -> None:
    groups = evaluated.evaluate("area", everything, level=2)["groups"]
    a, b = groups["350302"], groups["350303"]
    assert a["rates"] == {"response_rate": 0.75, "on_time_closure_rate": 1.0,
                          "closure_rate": 1.0, "resolution_rate": 1.0,
                          "satisfaction_rate": 0.5, "reopen_rate": 0.5,
                          "misrouted_return_rate": 0.25}
    assert a["overdue_count"] == 1 and a["average_overrun_hours"] == 2.0
    # 100 × (.15×.75 + .30×1 + .20×1 + .25×.5 + .10×.5) − 2 = 78.75 − 2
    assert a["score"] == pytest.approx(76.75, abs=0.006)
    assert b["rates"]["response_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert b["rates"]["on_time_closure_rate"] == 0.5
    assert b["overdue_count"] == 1 and b["average_overrun_hours"] == 29.5
    # 100 × (.15×2/3 + .30×.5 + .20×1 + .25×1 + .10×1) − min(20, 29.5) = 80 − 20
    assert b["score"] == pytest.approx(60.0, abs=0.006)
    city = evaluated.evaluate("area", everything, level=1)["groups"]
    assert list(city) == ["350300"] and city["350300"]["volume"]["cases"] == 6


def test_volume_is_shown_but_never_scored(evaluated: SupervisionApplication) -> None:
    before = evaluated.evaluate("department", everything)["groups"][UM]
    story = Story(evaluated)
    story.offsets.update({k: 10_000 for k in ("gov.intake.events", "gov.dedup.events")})
    c1 = next(s["case_id"] for s in evaluated.case_states(everything)
              if s["satisfaction"] == 5)
    for _ in range(3):  # three more reports of the same problem, merged into C1
        extra = uuid.uuid4()
        story.report(extra, t(1, 9, 40))
        story.feed(story.event(dedup.ReportMerged, uuid.UUID(c1), t(1, 9, 41),
                               report_id=extra, report_case_id=extra,
                               channel=Channel.HOTLINE_12345))
    after = evaluated.evaluate("department", everything)["groups"][UM]
    assert after["volume"]["reports"] == before["volume"]["reports"] + 3
    assert after["score"] == before["score"] and after["rates"] == before["rates"]


def test_the_formula_is_configurable(settings: SupervisionSettings) -> None:
    only_satisfaction = settings.model_copy(update={
        "evaluation_weights": {"satisfaction_rate": 1.0},
        "evaluation_overrun_penalty_per_hour": 0.0})
    app = SupervisionApplication(only_satisfaction)
    scenario(Story(app))
    app.clock.set(t(10, 10))  # type: ignore[attr-defined]
    um = app.evaluate("department", everything)["groups"][UM]
    assert um["score"] == pytest.approx(66.67, abs=0.006)
    with pytest.raises(ValueError, match="unknown metrics"):
        ScoreFormula({"reports_per_day": 1.0})
