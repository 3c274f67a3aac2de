"""Working days and working hours on China's official holiday calendar, in Asia/Shanghai."""

from .arrangement import YearArrangement
from .work_calendar import (
    DEFAULT_OFFICE_HOURS,
    Coverage,
    OfficePeriod,
    WorkCalendar,
    shanghai,
)

__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "Coverage",
    "OfficePeriod",
    "WorkCalendar",
    "YearArrangement",
    "shanghai",
]
