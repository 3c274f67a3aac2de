"""The projection's bulk writes send what SQLAlchemy itself would send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from services.projections import tables as t
from services.projections.bulk import sqlite_datetime

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize("moment", [
    None, datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 2, 1, 0, 0, 123, tzinfo=SHANGHAI),  # another zone, the day before in UTC
    datetime(5, 1, 1, tzinfo=UTC),  # a year of one digit, still four wide
])
def test_a_moment_is_stored_as_sqlalchemy_stores_it(moment: datetime | None) -> None:
    theirs = t.cases.c.reported_at.type._cached_bind_processor(sqlite.dialect())
    assert theirs is not None
    assert sqlite_datetime(moment) == theirs(moment)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_datetime(datetime(2026, 3, 2, 9, 0))
