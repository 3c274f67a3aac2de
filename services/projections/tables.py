"""Read-model tables. Every row can be rebuilt from the event log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import DateTime as SqlDateTime
from sqlalchemy.types import TypeDecorator


class DateTime(TypeDecorator[datetime]):
    """Stored in UTC, read back timezone-aware on every database (SQLite keeps no zone)."""

    impl = SqlDateTime(timezone=True)
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__()

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """JSON kept as text. Takes text already serialised (pydantic's serialiser is far
    faster than dumping to a dict and json.dumps) or a dict; reads back a dict."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

cases = Table(
    "rm_cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("status", String(24), nullable=False, index=True),
    Column("category", String(64), index=True),
    Column("channel", String(24)),
    Column("department", String(64), index=True),
    Column("urgency", String(16)),
    Column("area_path", String(200), index=True),  # '350300/350302/...': subtree = prefix
    Column("place_code", String(24)),
    Column("title", String(200)),
    Column("description", Text),
    Column("reported_at", DateTime(timezone=True)),
    Column("dispatched_at", DateTime(timezone=True)),
    Column("sign_deadline", DateTime(timezone=True)),
    Column("handle_deadline", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("on_time", Boolean),
    Column("warned", Boolean, nullable=False, default=False),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("report_count", Integer, nullable=False, default=1),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("satisfaction", Integer),
    Column("updated_at", DateTime(timezone=True), index=True),
    # What the fields were decided by, so that events commute across topics (apply.py).
    Column("facts", JSONText, default=dict),
)

# Rows of reports merged into another case: out of every list and count, kept whole so a
# split (or a merge met before its report) finds them as their own events left them.
merged_cases = Table("rm_merged_cases", metadata,
                     *(Column(c.name, c.type, primary_key=c.primary_key) for c in cases.columns))

# The case file (一件一档): every event of a case, in order, with who and when.
case_events = Table(
    "rm_case_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("event_type", String(40), nullable=False),
    Column("producer", String(24), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(64)),
    Column("actor_role", String(32)),
    Column("actor_name", String(64)),
    Column("origin", String(80), nullable=False),  # topic:partition:offset
    Column("payload", JSONText, nullable=False),
)

# report case id -> primary case id, for reports merged into another case's file.
aliases = Table(
    "rm_case_aliases",
    metadata,
    Column("report_case_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
)

tracking = Table(
    "rm_tracking",
    metadata,
    Column("name", String(120), primary_key=True),  # topic:partition
    Column("position", BigInteger, nullable=False),  # next offset to consume
)

# A miniature outbox: letters are written with the batch, then published.
dead_letters = Table(
    "rm_dead_letters",
    metadata,
    Column("origin", String(120), primary_key=True),
    Column("error", Text, nullable=False),
    Column("event_type", String(40)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("published", Boolean, nullable=False, default=False, index=True),
)


# Pre-aggregated counts for every node of the hierarchy (a case counts at its own place
# and at every ancestor): the dashboard reads a few hundred rows by key, never COUNT(*).
# `dim` is what is counted (status, category, dept_open, ...), `key` its value.
counts = Table(
    "rm_counts",
    metadata,
    Column("area", String(200), primary_key=True),  # an area path: one node
    Column("dim", String(24), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("depth", Integer, nullable=False),  # 1 city ... 6 unit
    Column("n", BigInteger, nullable=False),
)
Index("ix_rm_counts_level", counts.c.dim, counts.c.depth, counts.c.area)

# Cases reported and closed per node, day (Asia/Shanghai) and category: trends, hotspots.
daily = Table(
    "rm_daily",
    metadata,
    Column("area", String(200), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD
    Column("category", String(64), primary_key=True),
    Column("depth", Integer, nullable=False),
    Column("reported", BigInteger, nullable=False),
    Column("closed", BigInteger, nullable=False),
)
Index("ix_rm_daily_level", daily.c.depth, daily.c.day)

READ_MODEL_TABLES = (cases, case_events, aliases, counts, daily, dead_letters, tracking,
                     merged_cases)
