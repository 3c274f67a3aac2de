"""Working days and hours on China's official calendar (shared.workcalendar)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.workcalendar import WorkCalendar, YearArrangement

SH = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


# TEST DATA, NOT OFFICIAL: an invented but plausible 2027 arrangement (the real one is
# published by the State Council around November 2026). 2027-01-01 is a Friday; 除夕 2027
# is Friday 2027-02-05.
INVENTED_2027 = YearArrangement(
    year=2027,
    holidays=[
        *(date(2027, 1, 1) + timedelta(days=i) for i in range(3)),  # New Year, Fri–Sun
        *(date(2027, 2, 5) + timedelta(days=i) for i in range(9)),  # Spring Festival Feb 5–13
    ],
    workdays=[date(2027, 1, 31), date(2027, 2, 20)],  # make-up: Sunday Jan 31, Saturday Feb 20
    source="TEST DATA — invented for unit tests, not a State Council notice",
    published_at=None,
)


# --- 2026 National Day week, from chinese_calendar 1.11.0 itself ----------------------
# get_holiday_detail / is_workday for 2026-09-20..2026-10-11 said:
#   09-20 Sun  workday (make-up, 'National Day')
#   09-25 Fri .. 09-27 Sun  off ('Mid-autumn Festival')
#   10-01 Thu .. 10-07 Wed  off ('National Day')
#   10-08 Thu, 10-09 Fri  workdays
#   10-10 Sat  workday (make-up, 'National Day');  10-11 Sun  off
NATIONAL_DAY_2026 = [
    (date(2026, 9, 20), True),
    (date(2026, 9, 24), True),
    (date(2026, 9, 25), False),
    (date(2026, 9, 26), False),
    (date(2026, 9, 27), False),
    (date(2026, 9, 28), True),
    (date(2026, 9, 30), True),
    *((date(2026, 10, d), False) for d in range(1, 8)),
    (date(2026, 10, 8), True),
    (date(2026, 10, 9), True),
    (date(2026, 10, 10), True),
    (date(2026, 10, 11), False),
    (date(2026, 10, 12), True),
]


@pytest.mark.parametrize(("day", "expected"), NATIONAL_DAY_2026)
def test_national_day_week_2026(day: date, expected: bool) -> None:
    assert WorkCalendar().is_workday(day) is expected


def test_library_still_says_what_the_literals_above_were_read_from() -> None:
    assert chinese_calendar.get_holiday_detail(date(2026, 10, 1)) == (True, "National Day")
    assert chinese_calendar.get_holiday_detail(date(2026, 10, 10)) == (False, "National Day")
    assert chinese_calendar.get_holiday_detail(date(2026, 9, 20)) == (False, "National Day")


def test_coverage_is_probed_not_hard_coded() -> None:
    cal = WorkCalendar()
    assert cal.coverage(2026) == "official"
    assert cal.coverage(2004) == "official"
    assert cal.coverage(2003) == "weekends_only"  # the library starts at 2004
    assert cal.coverage(2027) == "weekends_only"


def test_deadline_in_working_days_spans_national_day_week() -> None:
    # Received Tue 09-29: day 1 = Wed 09-30, then 10-01..07 off, 2 = Thu 10-08, 3 = Fri 10-09,
    # 4 = Sat 10-10 (make-up), 5 = Mon 10-12.
    assert WorkCalendar().add_working_days(sh(2026, 9, 29, 10), 5) == sh(2026, 10, 12, 17, 30)


def test_deadline_in_working_hours_spans_national_day_week() -> None:
    # 1.5 h on Wed 09-30, the remaining 2.5 h from 08:30 on Thu 10-08.
    cal = WorkCalendar()
    due = cal.add_working_hours(sh(2026, 9, 30, 16), 4)
    assert due == sh(2026, 10, 8, 11)
    assert cal.working_hours_between(sh(2026, 9, 30, 16), due) == pytest.approx(4)


def test_make_up_saturday_counts_as_working_day() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(sh(2026, 10, 9, 10), 1) == sh(2026, 10, 10, 17, 30)
    assert cal.add_working_hours(sh(2026, 10, 9, 17), 1) == sh(2026, 10, 10, 9)
    assert cal.working_hours_between(sh(2026, 10, 9, 17), sh(2026, 10, 12, 8)) == 7.5


def test_make_up_sunday_counts_as_working_day() -> None:
    assert WorkCalendar().add_working_days(sh(2026, 9, 19, 10), 1) == sh(2026, 9, 20, 17, 30)


def test_received_on_a_working_day_counts_from_the_next_one() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(sh(2026, 10, 13, 8), 1) == sh(2026, 10, 14, 17, 30)
    assert cal.add_working_days(sh(2026, 10, 17, 10), 1) == sh(2026, 10, 19, 17, 30)  # Sat
    assert cal.add_working_days(sh(2026, 10, 13, 8), 0) == sh(2026, 10, 13, 17, 30)
    assert cal.add_working_days(sh(2026, 10, 13, 18), 0) == sh(2026, 10, 14, 17, 30)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (sh(2026, 10, 13, 11), 2, sh(2026, 10, 13, 15)),  # across lunch
        (sh(2026, 10, 13, 12, 30), 1, sh(2026, 10, 13, 15)),  # starts in lunch
        (sh(2026, 10, 13, 8, 30), 3.5, sh(2026, 10, 13, 12)),  # ends on the morning close
        (sh(2026, 10, 13, 17), 1, sh(2026, 10, 14, 9)),  # overnight
        (sh(2026, 10, 13, 19), 0.5, sh(2026, 10, 14, 9)),  # starts after close
        (sh(2026, 10, 13, 3), 0, sh(2026, 10, 13, 8, 30)),  # zero waits for office hours
        (sh(2026, 10, 13, 17, 30), 0, sh(2026, 10, 13, 17, 30)),  # zero at close stays
        (sh(2026, 10, 13, 10), 7, sh(2026, 10, 14, 10)),  # one full office day
    ],
)
def test_working_hours_across_lunch_and_overnight(
    start: datetime, hours: float, due: datetime
) -> None:
    cal = WorkCalendar()
    assert cal.add_working_hours(start, hours) == due
    assert cal.working_hours_between(start, due) == pytest.approx(hours)


def test_any_zone_in_shanghai_out() -> None:
    cal = WorkCalendar()
    due = cal.add_working_hours(datetime(2026, 10, 13, 3, tzinfo=UTC), 2)  # 11:00 in Shanghai
    assert due == sh(2026, 10, 13, 15)
    assert due.tzinfo == SH
    # 23:00 UTC on Fri 10-09 is already Sat 10-10 (a make-up day) in Shanghai.
    assert cal.is_workday(datetime(2026, 10, 9, 23, tzinfo=UTC))
    assert not cal.is_workday(datetime(2026, 10, 10, 23, tzinfo=UTC))


def test_naive_datetimes_are_refused() -> None:
    cal, naive = WorkCalendar(), datetime(2026, 10, 13, 10)
    for call in (
        lambda: cal.add_working_hours(naive, 1),
        lambda: cal.add_working_days(naive, 1),
        lambda: cal.working_hours_between(naive, sh(2026, 10, 14)),
        lambda: cal.elapsed_share(sh(2026, 10, 13), sh(2026, 10, 14), naive),
        lambda: cal.is_workday(naive),
        lambda: cal.warnings(naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


def test_bad_amounts_are_refused() -> None:
    cal = WorkCalendar()
    for hours in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            cal.add_working_hours(sh(2026, 10, 13, 10), hours)
    with pytest.raises(ValueError):
        cal.add_working_days(sh(2026, 10, 13, 10), -1)


def test_elapsed_share_and_overrun() -> None:
    cal = WorkCalendar()
    start = sh(2026, 10, 13, 8, 30)
    deadline = cal.add_working_hours(start, 4)
    assert deadline == sh(2026, 10, 13, 14, 30)
    assert cal.elapsed_share(start, deadline, sh(2026, 10, 13, 12)) == pytest.approx(0.875)
    assert cal.elapsed_share(start, deadline, sh(2026, 10, 13, 13)) == pytest.approx(0.875)
    assert cal.elapsed_share(start, deadline, sh(2026, 10, 12, 9)) == 0.0
    assert cal.elapsed_share(start, deadline, sh(2026, 10, 14, 8, 30)) == pytest.approx(1.75)
    assert cal.working_hours_between(deadline, sh(2026, 10, 14, 8, 30)) == pytest.approx(3)
    assert cal.working_hours_between(deadline, sh(2026, 10, 13, 12)) == pytest.approx(-0.5)


# --- 2027: unknown to chinese_calendar 1.11.0 ------------------------------------------
START_LATE_2026 = sh(2026, 12, 24, 10)


def test_deadline_into_2027_without_arrangement_counts_weekends_only_and_warns() -> None:
    cal = WorkCalendar()
    # 12-25, 12-28..31 (5 days), then Fri 2027-01-01 wrongly counted, Jan 4..21 (14 more).
    due = cal.add_working_days(START_LATE_2026, 20)
    assert due == sh(2027, 1, 21, 17, 30)
    assert cal.is_workday(date(2027, 1, 1))
    assert cal.weekends_only_years(START_LATE_2026, due) == [2027]
    [warning] = cal.warnings(START_LATE_2026, due)
    assert "2027年" in warning
    assert "2027 official holiday arrangement is not loaded" in warning
    assert cal.warnings(sh(2026, 1, 5), sh(2026, 12, 31)) == []


def test_loading_a_2027_arrangement_changes_the_deadline_and_clears_the_warning() -> None:
    cal = WorkCalendar()
    cal.load(INVENTED_2027)
    due = cal.add_working_days(START_LATE_2026, 20)
    assert due == sh(2027, 1, 22, 17, 30)  # New Year's Day no longer counted
    assert cal.coverage(2027) == "loaded"
    assert cal.warnings(START_LATE_2026, due) == []
    assert cal.weekends_only_years(START_LATE_2026, due) == []


@pytest.mark.parametrize(
    ("start", "days", "weekends_only", "loaded"),
    [
        # Spring Festival: day 1 = Thu Feb 4, then Feb 5–13 off, Sun 14 off, Mon 15, Tue 16.
        (sh(2027, 2, 3, 9), 3, sh(2027, 2, 8, 17, 30), sh(2027, 2, 16, 17, 30)),
        # Make-up Sunday Jan 31 is the first working day after Fri Jan 29.
        (sh(2027, 1, 29, 10), 1, sh(2027, 2, 1, 17, 30), sh(2027, 1, 31, 17, 30)),
    ],
)
def test_invented_2027_spring_festival(
    start: datetime, days: int, weekends_only: datetime, loaded: datetime
) -> None:
    assert WorkCalendar().add_working_days(start, days) == weekends_only
    cal = WorkCalendar(arrangements={2027: INVENTED_2027})
    assert cal.add_working_days(start, days) == loaded


def test_loaded_arrangement_wins_over_the_library() -> None:
    only_new_year = YearArrangement(year=2026, holidays=[date(2026, 1, 1)], source="test data")
    cal = WorkCalendar(arrangements={2026: only_new_year})
    assert cal.coverage(2026) == "loaded"
    assert cal.is_workday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 10))


def test_arrangement_filed_under_the_wrong_year_is_refused() -> None:
    with pytest.raises(ValueError, match="2027"):
        WorkCalendar(arrangements={2028: INVENTED_2027})


# --- YearArrangement validation ---------------------------------------------------------
@pytest.mark.parametrize(
    ("holidays", "workdays", "message"),
    [
        ([date(2026, 12, 31)], [], "outside 2027"),
        ([], [date(2028, 1, 1)], "outside 2027"),
        ([date(2027, 1, 31)], [date(2027, 1, 31)], "both holiday and make-up"),
        ([], [date(2027, 2, 1)], "Saturday or Sunday"),  # a Monday
        ([date(2027, 1, 1), date(2027, 1, 1)], [], "listed twice"),
    ],
)
def test_invalid_arrangement_is_refused(
    holidays: list[date], workdays: list[date], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        YearArrangement(year=2027, holidays=holidays, workdays=workdays, source="test data")


def test_arrangement_allows_weekend_holidays_and_is_frozen() -> None:
    assert date(2027, 1, 2) in INVENTED_2027.holidays  # a Saturday, allowed
    with pytest.raises(ValidationError):
        YearArrangement(year=2027, source="")
    with pytest.raises(ValidationError):
        INVENTED_2027.year = 2028


def test_office_hours_must_be_ordered_and_not_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        WorkCalendar(office_hours=[(time(8), time(12)), (time(11), time(17))])
    with pytest.raises(ValueError, match="start before"):
        WorkCalendar(office_hours=[(time(12), time(8))])
    one_period = WorkCalendar(office_hours=[(time(9), time(18))])
    assert one_period.add_working_hours(sh(2026, 10, 13, 17), 2) == sh(2026, 10, 14, 10)


# --- properties -------------------------------------------------------------------------
PLAIN = WorkCalendar()
WITH_2027 = WorkCalendar(arrangements={2027: INVENTED_2027})
calendars = st.sampled_from([PLAIN, WITH_2027])
zones = st.sampled_from([SH, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")])
moments = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 20), timezones=zones)
hour_amounts = st.floats(0, 300, allow_nan=False, allow_infinity=False)


@st.composite
def office_moments(draw: st.DrawFn, cal: WorkCalendar) -> datetime:
    """A moment inside office hours (ends included) on a working day, in any zone."""
    day = draw(st.dates(date(2025, 1, 1), date(2027, 12, 20)))
    assume(cal.is_workday(day))
    start, end = draw(st.sampled_from(cal.office_hours))
    opened = datetime.combine(day, start, tzinfo=SH)
    length = datetime.combine(day, end, tzinfo=SH) - opened
    offset = draw(st.integers(0, length // timedelta(microseconds=1)))
    return (opened + timedelta(microseconds=offset)).astimezone(draw(zones))


def in_office_hours(cal: WorkCalendar, moment: datetime) -> bool:
    local = moment.astimezone(SH)
    return cal.is_workday(local.date()) and any(
        start <= local.time() <= end for start, end in cal.office_hours
    )


@given(cal=calendars, start=moments, a=hour_amounts, b=hour_amounts)
def test_add_working_hours_is_monotonic(
    cal: WorkCalendar, start: datetime, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    assert cal.add_working_hours(start, low) <= cal.add_working_hours(start, high)


@given(data=st.data(), cal=calendars, hours=hour_amounts)
def test_hours_between_undoes_add_working_hours(
    data: st.DataObject, cal: WorkCalendar, hours: float
) -> None:
    start = data.draw(office_moments(cal))
    due = cal.add_working_hours(start, hours)
    assert abs(cal.working_hours_between(start, due) - hours) < 1e-6


@given(cal=calendars, start=moments, hours=hour_amounts, days=st.integers(0, 60))
def test_deadlines_fall_on_workdays_inside_office_hours(
    cal: WorkCalendar, start: datetime, hours: float, days: int
) -> None:
    assert in_office_hours(cal, cal.add_working_hours(start, hours))
    due = cal.add_working_days(start, days)
    assert in_office_hours(cal, due)
    assert due.astimezone(SH).time() == time(17, 30)
    assert due.date() > start.astimezone(SH).date() or days == 0


@given(cal=calendars, points=st.lists(moments, min_size=3, max_size=3))
def test_working_hours_between_adds_up(cal: WorkCalendar, points: list[datetime]) -> None:
    a, b, c = sorted(points)
    whole = cal.working_hours_between(a, c)
    assert whole == pytest.approx(
        cal.working_hours_between(a, b) + cal.working_hours_between(b, c), abs=1e-6
    )
    assert cal.working_hours_between(c, a) == -whole
