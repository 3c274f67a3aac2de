"""Evaluation by quality (跟踪问效), per department and per area at every level.

Figures come from folded case states (see casefile.fold); definitions and the score
formula are documented in docs/evaluation.md. Volume (how many cases, how many reports)
is shown beside the figures and never enters the score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.workcalendar import WorkCalendar

State = dict[str, Any]

# Rates where higher is better, and rates where lower is better (scored as 1 - rate).
GOOD = ("response_rate", "on_time_closure_rate", "resolution_rate", "satisfaction_rate")
BAD = ("reopen_rate", "misrouted_return_rate")
DEFAULT_WEIGHTS = {
    "response_rate": 0.15,
    "on_time_closure_rate": 0.30,
    "resolution_rate": 0.20,
    "satisfaction_rate": 0.25,
    "reopen_rate": 0.10,
    "misrouted_return_rate": 0.0,  # a return is often the dispatcher's misroute: shown only
}
SATISFIED = 4  # 满意 (5) and 基本满意 (4) on the 1..5 scale


@dataclass(frozen=True)
class ScoreFormula:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    overrun_penalty_per_hour: float = 1.0  # points per working hour of average overrun
    overrun_penalty_cap: float = 20.0

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(GOOD) - set(BAD)
        if unknown:
            raise ValueError(f"unknown metrics in weights: {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must not be negative")

    def score(self, rates: dict[str, float | None], average_overrun: float | None) -> float | None:
        """100 × weighted mean of the defined rates (bad ones as 1 − rate) − overrun penalty."""
        total = weight = 0.0
        for name, w in self.weights.items():
            rate = rates.get(name)
            if rate is None or w == 0:
                continue
            total += w * (1 - rate if name in BAD else rate)
            weight += w
        if weight == 0:
            return None
        penalty = min(self.overrun_penalty_cap,
                      self.overrun_penalty_per_hour * (average_overrun or 0.0))
        return round(max(0.0, 100 * total / weight - penalty), 2)


@dataclass
class Tally:
    """Counts for one department or area; rates are derived from them."""

    cases: int = 0  # volume: shown, never scored
    reports: int = 0  # volume: shown, never scored
    dispatches: int = 0
    due_to_respond: int = 0
    responded_on_time: int = 0
    returned: int = 0
    due_to_close: int = 0  # 应结案
    closed: int = 0
    closed_on_time: int = 0  # 按期结案
    verified: int = 0
    resolved: int = 0
    handled: int = 0
    reopened: int = 0
    rated: int = 0
    satisfied: int = 0
    overdue: int = 0
    overrun_hours: float = 0.0

    def figures(self, formula: ScoreFormula) -> dict[str, Any]:
        rates: dict[str, float | None] = {
            "response_rate": ratio(self.responded_on_time, self.due_to_respond),
            "on_time_closure_rate": ratio(self.closed_on_time, self.due_to_close),
            "closure_rate": ratio(self.closed, self.due_to_close),
            "resolution_rate": ratio(self.resolved, self.verified),
            "satisfaction_rate": ratio(self.satisfied, self.rated),
            "reopen_rate": ratio(self.reopened, self.handled),
            "misrouted_return_rate": ratio(self.returned, self.dispatches),
        }
        average = round(self.overrun_hours / self.overdue, 2) if self.overdue else None
        return {"volume": {"cases": self.cases, "reports": self.reports,
                           "dispatches": self.dispatches},
                "counts": {k: v for k, v in vars(self).items()
                           if k not in ("cases", "reports", "overrun_hours")},
                "rates": {k: None if v is None else round(v, 4) for k, v in rates.items()},
                "overdue_count": self.overdue, "average_overrun_hours": average,
                "score": formula.score(rates, average)}


def _constant(tally: Tally) -> Callable[[str], Tally]:
    return lambda _department: tally


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Evaluator:
    def __init__(self, calendar: WorkCalendar, formula: ScoreFormula) -> None:
        self.calendar = calendar
        self.formula = formula

    def by_department(self, states: Iterable[State], now: datetime) -> dict[str, Any]:
        tallies: dict[str, Tally] = defaultdict(Tally)
        for s in states:
            self._responses(s, now, lambda d: tallies[d])
            if s["department"]:
                self._outcome(tallies[s["department"]], s, now)
            overruns: dict[str, float] = defaultdict(float)
            for phase in s["phases"]:
                overruns[phase["department"]] += self.overrun(phase, now)
            for department, hours in overruns.items():
                self._overrun(tallies[department], hours)
        return {k: t.figures(self.formula) for k, t in sorted(tallies.items())}

    def by_area(self, states: Iterable[State], now: datetime, level: int) -> dict[str, Any]:
        """Grouped by the area code at `level` of each case's area path (1 = city)."""
        tallies: dict[str, Tally] = defaultdict(Tally)
        for s in states:
            if len(s["area_path"]) < level:
                continue
            tally = tallies[s["area_path"][level - 1]]
            self._responses(s, now, _constant(tally))
            self._outcome(tally, s, now)
            self._overrun(tally, sum(self.overrun(p, now) for p in s["phases"]))
        return {k: t.figures(self.formula) for k, t in sorted(tallies.items())}

    def _responses(self, s: State, now: datetime, tally_of: Callable[[str], Tally]) -> None:
        """Each dispatch round counts to the department it went to."""
        for d in s["dispatches"]:
            t = tally_of(d["department"])
            t.dispatches += 1
            answered, deadline = at(d["answered_at"]), at(d["sign_deadline"])
            assert deadline is not None
            if answered is not None or now > deadline:
                t.due_to_respond += 1
                t.responded_on_time += answered is not None and answered <= deadline
            t.returned += d["answer"] == "returned"

    def _outcome(self, t: Tally, s: State, now: datetime) -> None:
        """The case's outcome counts to the department responsible for it last."""
        t.cases += 1
        t.reports += max(1, len(s["reports"]))
        if s["status"] == "returned":
            return  # with the dispatcher until re-dispatched: no department's outcome yet
        deadline = at(s["handle_deadline"])
        closed = s["closed_at"] is not None
        if closed or (deadline is not None and now > deadline):
            t.due_to_close += 1
            t.closed += closed
            t.closed_on_time += closed and bool(s["on_time"])
        if s["verifications"]:
            t.verified += 1
            t.resolved += s["verifications"][-1]["passed"]
        if s["handled_count"]:
            t.handled += 1
            t.reopened += s["reopen_count"] > 0
        if s["satisfaction"] is not None:
            t.rated += 1
            t.satisfied += s["satisfaction"] >= SATISFIED

    @staticmethod
    def _overrun(t: Tally, hours: float) -> None:
        if hours > 0:
            t.overdue += 1
            t.overrun_hours += hours

    def overrun(self, phase: dict[str, Any], now: datetime) -> float:
        """Working hours a handling phase ran past its deadline: to its handling, to its
        return, or (still open) to now; 0 if it did not."""
        deadline = at(phase["deadline"])
        assert deadline is not None
        finished = at(phase["handled_at"]) or at(phase["ended_at"]) or now
        return max(0.0, self.calendar.working_hours_between(deadline, finished))
