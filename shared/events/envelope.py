"""The envelope every integration event shares, and the value types they carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Deterministic ids (uuid5) make publishing idempotent: the same stored event always
# becomes the same integration event id, so a republished message is recognisable.
EVENT_NAMESPACE = uuid.UUID("6b59cf85-a88b-4bff-9f3c-5a1e2d0c4b11")


class Contract(BaseModel):
    """Base of every contract model: immutable; unknown fields ignored (additive changes)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Channel(StrEnum):
    """Intake channels (数据汇入渠道)."""

    GRID_APP = "grid_app"  # 网格员/单元长上报
    INSPECTION = "inspection"  # 部门巡查发现
    HOTLINE_12345 = "hotline_12345"  # 12345热线转办
    POLICE = "police"  # 公安非警务警情
    PETITION = "petition"  # 信访转办件
    OPEN311 = "open311"  # Open311 GeoReport v2 clients
    IMPORT = "import"  # bulk import of historical requests


class Actor(Contract):
    """Who did it: a person in a role, or a service acting on its own (timers, rules)."""

    id: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=64)


class Location(Contract):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class IntegrationEvent(Contract):
    """The common envelope. Subclasses add their payload fields."""

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    event_id: uuid.UUID
    case_id: uuid.UUID
    occurred_at: AwareDatetime
    producer: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    actor: Actor

    def envelope_headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers: lets consumers route and dead-letter without parsing the body."""
        return [
            ("event_id", str(self.event_id).encode()),
            ("event_type", self.event_type.encode()),
            ("schema_version", str(self.schema_version).encode()),
        ]

    @staticmethod
    def derive_id(producer: str, originator_id: uuid.UUID, version: int) -> uuid.UUID:
        return uuid.uuid5(EVENT_NAMESPACE, f"{producer}:{originator_id}:{version}")


def envelope_fields(event: IntegrationEvent) -> dict[str, object]:
    """The envelope of an event, to build a successor event that keeps the correlation."""
    return {"case_id": event.case_id, "correlation_id": event.correlation_id}


def utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every time in a contract is timezone-aware")
    return dt
