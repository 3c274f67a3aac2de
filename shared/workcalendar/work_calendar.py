"""Working days and working hours on China's official calendar (放假/调休), in Asia/Shanghai.

Which calendar decides a day, in order:
1. an arrangement loaded by an administrator for that year (it wins, even over the library);
2. `chinese_calendar`, for the years the installed release knows;
3. Mon–Fri only ("weekends only"), which may be wrong; `warnings()` says so for the UI.

Deadline convention for working days (12345 practice, "N个工作日内"): counting starts on the
first working day *after* the day the case was received, whatever the hour or the kind of day,
and the deadline is the close of the last office period of the Nth such working day. So a case
received on Tuesday with 1 working day is due Wednesday 17:30; one received on Saturday is due
Monday 17:30.

All inputs must be tz-aware (any zone); results are returned in Asia/Shanghai.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from .arrangement import YearArrangement

Coverage = Literal["official", "loaded", "weekends_only"]
OfficePeriod = tuple[time, time]

DEFAULT_OFFICE_HOURS: tuple[OfficePeriod, ...] = (
    (time(8, 30), time(12, 0)),
    (time(14, 0), time(17, 30)),
)

_ONE_DAY = timedelta(days=1)
_ONE_HOUR = timedelta(hours=1)
_SATURDAY = 5
# Even a year loaded as all holidays ends; more idle days than this means broken data.
_MAX_IDLE_DAYS = 400


@cache
def shanghai() -> ZoneInfo:
    """The zone all working time is computed in (lazy, so importing reads no tz data)."""
    return ZoneInfo("Asia/Shanghai")


@cache
def _library_knows(year: int) -> bool:
    # Probe rather than hard-code the range, so a newer chinese-calendar is used at once.
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


@cache
def _official_is_workday(day: date) -> bool:
    # chinese_calendar.is_workday scans its whole table on every call (~13 µs); the answer
    # for a date never changes within a release, so remember it for the process.
    return bool(chinese_calendar.is_workday(day))


class WorkCalendar:
    """Office hours on working days; holds the administrator-loaded year arrangements."""

    def __init__(
        self,
        office_hours: Sequence[OfficePeriod] = DEFAULT_OFFICE_HOURS,
        arrangements: Mapping[int, YearArrangement] | None = None,
    ) -> None:
        self._periods = _checked_office_hours(office_hours)
        self._arrangements: dict[int, YearArrangement] = {}
        self._loaded_days: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        for year, arrangement in (arrangements or {}).items():
            if year != arrangement.year:
                raise ValueError(f"arrangement for {arrangement.year} filed under {year}")
            self.load(arrangement)

    @property
    def office_hours(self) -> tuple[OfficePeriod, ...]:
        return self._periods

    @property
    def arrangements(self) -> Mapping[int, YearArrangement]:
        return MappingProxyType(self._arrangements)

    def load(self, arrangement: YearArrangement) -> None:
        """Use `arrangement` for its year from now on, replacing any earlier one."""
        self._arrangements[arrangement.year] = arrangement
        self._loaded_days[arrangement.year] = (
            frozenset(arrangement.holidays),
            frozenset(arrangement.workdays),
        )

    # --- which days count -------------------------------------------------------------

    def coverage(self, year: int) -> Coverage:
        if year in self._arrangements:
            return "loaded"
        return "official" if _library_knows(year) else "weekends_only"

    def is_workday(self, day: date) -> bool:
        """Whether `day` is a working day; a datetime is taken at its Shanghai date."""
        day = _shanghai_date(day)
        loaded = self._loaded_days.get(day.year)
        if loaded is not None:
            holidays, workdays = loaded
            return day in workdays or (day.weekday() < _SATURDAY and day not in holidays)
        if _library_knows(day.year):
            return _official_is_workday(day)
        return day.weekday() < _SATURDAY

    def weekends_only_years(self, *moments: date) -> list[int]:
        """Years from the earliest to the latest of `moments` counted Mon–Fri only."""
        if not moments:
            return []
        years = [_shanghai_date(m).year for m in moments]
        span = range(min(years), max(years) + 1)
        return [year for year in span if self.coverage(year) == "weekends_only"]

    def warnings(self, *moments: date) -> list[str]:
        """One bilingual warning per weekends-only year between the earliest and latest moment."""
        return [_weekends_only_warning(year) for year in self.weekends_only_years(*moments)]

    # --- deadlines --------------------------------------------------------------------

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` office hours after `start` (a start off hours waits for the next
        office period; a deadline landing on a period's end stays there, e.g. 12:00)."""
        remaining = _as_duration(hours)
        for begin, end in self._periods_from(_shanghai(start)):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable: _periods_from never ends")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Close of business on the `days`-th working day after `start`'s Shanghai date.

        `days == 0` means "the same day": today's close if today is a working day not yet
        closed, else the next working day's close.
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        local = _shanghai(start)
        day = local.date()
        if days == 0 and self.is_workday(day) and local <= self._close(day):
            return self._close(day)
        for _ in range(max(days, 1)):
            day = self._next_workday(day)
        return self._close(day)

    # --- measuring --------------------------------------------------------------------

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Office hours from `a` to `b`; negative when `b` is before `a` (e.g. not yet overdue
        when measuring an overrun from deadline to now)."""
        a, b = _shanghai(a), _shanghai(b)
        if b < a:
            return -self.working_hours_between(b, a)
        total = timedelta(0)
        for begin, end in self._periods_from(a):
            if begin >= b:
                break
            total += min(end, b) - begin
        return total / _ONE_HOUR

    def elapsed_share(self, start: datetime, deadline: datetime, now: datetime) -> float:
        """Share of the working time from `start` to `deadline` used by `now` (0 before start,
        1 at the deadline, above 1 once overdue), for the 80% warning."""
        allowed = self.working_hours_between(start, deadline)
        if allowed <= 0:
            return 1.0 if _shanghai(now) >= _shanghai(deadline) else 0.0
        return max(0.0, self.working_hours_between(start, now) / allowed)

    # --- walking ----------------------------------------------------------------------

    def _close(self, day: date) -> datetime:
        return datetime.combine(day, self._periods[-1][1], tzinfo=shanghai())

    def _next_workday(self, day: date) -> date:
        for _ in range(_MAX_IDLE_DAYS):
            day += _ONE_DAY
            if self.is_workday(day):
                return day
        raise RuntimeError(f"no working day within {_MAX_IDLE_DAYS} days after {day}")

    def _periods_from(self, cursor: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Office periods (clipped at `cursor`) from `cursor` on, day by day, endlessly."""
        day, idle = cursor.date(), 0
        while True:
            if self.is_workday(day):
                idle = 0
                for start, end in self._periods:
                    begin = datetime.combine(day, start, tzinfo=shanghai())
                    finish = datetime.combine(day, end, tzinfo=shanghai())
                    if finish >= cursor:
                        yield max(begin, cursor), finish
            else:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise RuntimeError(f"no working day within {_MAX_IDLE_DAYS} days of {day}")
            day += _ONE_DAY


def _shanghai(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a tz-aware datetime")
    return moment.astimezone(shanghai())


def _shanghai_date(day: date) -> date:
    return _shanghai(day).date() if isinstance(day, datetime) else day


def _as_duration(hours: float) -> timedelta:
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be finite and >= 0, got {hours}")
    return timedelta(hours=hours)


def _checked_office_hours(periods: Sequence[OfficePeriod]) -> tuple[OfficePeriod, ...]:
    checked = tuple((start, end) for start, end in periods)
    if not checked:
        raise ValueError("office hours need at least one period")
    for start, end in checked:
        # Periods are Shanghai wall-clock times; a zone on them would be silently ignored.
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("office hours must be naive times (Asia/Shanghai wall clock)")
        if not start < end:
            raise ValueError(f"office period {start}-{end} must start before it ends")
    for (_, earlier_end), (later_start, _) in pairwise(checked):
        if later_start < earlier_end:
            raise ValueError("office periods must be in order and must not overlap")
    return checked


def _weekends_only_warning(year: int) -> str:
    return (
        f"{year}年节假日安排尚未加载，该年工作日暂按周一至周五计算，期限可能不准确。"
        f" / The {year} official holiday arrangement is not loaded: working days in {year}"
        " are counted as Monday–Friday only, so deadlines may be wrong."
    )
