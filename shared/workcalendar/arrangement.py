"""A year's official holiday arrangement (国务院节假日安排), loaded by administrators as data.

The State Council publishes next year's arrangement around November, before the
`chinese-calendar` library knows it, so it must be loadable without a release.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SATURDAY = 5


class YearArrangement(BaseModel):
    """Days off and make-up working days for one year; every other day follows Mon–Fri."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=1, le=9999)
    holidays: list[date] = Field(default_factory=list, description="official days off (放假)")
    workdays: list[date] = Field(
        default_factory=list, description="make-up working days on weekends (调休上班)"
    )
    source: str = Field(min_length=1, description="e.g. the 国办发明电 notice number")
    published_at: date | None = None

    @field_validator("holidays", "workdays")
    @classmethod
    def _sorted_without_repeats(cls, days: list[date]) -> list[date]:
        # A repeated date is almost always a typo for another date, so refuse it.
        repeated = sorted(d for d, n in Counter(days).items() if n > 1)
        if repeated:
            raise ValueError(f"dates listed twice: {_fmt(repeated)}")
        return sorted(days)

    @model_validator(mode="after")
    def _consistent(self) -> YearArrangement:
        stray = [d for d in (*self.holidays, *self.workdays) if d.year != self.year]
        if stray:
            raise ValueError(f"dates outside {self.year}: {_fmt(stray)}")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"dates both holiday and make-up workday: {_fmt(both)}")
        # Mon–Fri are working days already; listing one as 调休上班 means the data is wrong.
        weekdays = [d for d in self.workdays if d.weekday() < _SATURDAY]
        if weekdays:
            raise ValueError(f"make-up workdays must be Saturday or Sunday: {_fmt(weekdays)}")
        return self


def _fmt(days: list[date]) -> str:
    return ", ".join(d.isoformat() for d in days)
