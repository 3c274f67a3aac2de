"""Events published by the intake service."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import Channel, Contract, IntegrationEvent, Location


class PersonalData(Contract):
    """A caller's, petitioner's or requester's personal data: encrypted under that
    person's own key (AES-256-GCM, kept by intake), plus the masked forms to display.
    Never plain text on the wire; erasing the person deletes the key (crypto-shredding)."""

    role: str = Field(max_length=24)  # caller, petitioner, requester
    person_ref: str = Field(min_length=1, max_length=64)  # keyed pseudonym, not reversible
    alg: str = "AES-256-GCM"
    nonce: str = Field(max_length=32)
    ciphertext: str = Field(max_length=4096)
    name_masked: str = Field(default="", max_length=64)  # 张*
    phone_masked: str = Field(default="", max_length=32)  # 138****5678
    id_number_masked: str = Field(default="", max_length=32)  # 1101**********1234
    email_masked: str = Field(default="", max_length=128)


class CaseReported(IntegrationEvent):
    """One report (上报/来件) from one channel, placed in the hierarchy.

    `case_id` is the report's own provisional case id, uuid5(channel, external_ref):
    dedup either registers it as a new case or merges it into an existing one.
    """

    event_type: ClassVar[str] = "case.reported"

    report_id: uuid.UUID
    channel: Channel
    external_ref: str = Field(min_length=1, max_length=128)
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    location: Location | None = None
    place_code: str | None = None  # the unit or grid the report was placed in
    area_path: tuple[str, ...] = Field(min_length=1)  # city code first
    placed: bool = True  # False: outside every grid, queued for manual placement
    reported_at: AwareDatetime
    attachments: tuple[str, ...] = ()
    # Added with the channel adapters (all optional, so older messages still parse):
    address: str = Field(default="", max_length=300)  # as the channel gave it
    source_category: str = Field(default="", max_length=200)  # the channel's own category
    # The department the source system already named (e.g. LA 311's Owner, mapped by the
    # import mapping); dispatch may route to it instead of the responsibility list.
    assigned_department: str | None = Field(default=None, max_length=64)
    # What only this channel has: hotline_order_no, police_station, petition_form, ...
    channel_details: dict[str, str] = Field(default_factory=dict)
    contact: PersonalData | None = None


class ReportPlaced(IntegrationEvent):
    """A report that arrived outside every grid was placed by a person (人工定位)."""

    event_type: ClassVar[str] = "case.placed"

    report_id: uuid.UUID
    place_code: str
    area_path: tuple[str, ...] = Field(min_length=1)
    location: Location | None = None


ErasureBasis = Literal["person_request", "retention_expired", "legal_order"]


class PersonErased(IntegrationEvent):
    """The contact person of a report was erased (crypto-shredding): their key is deleted,
    so every sealed copy of their data, on Kafka and in backups, no longer opens. Carries
    no personal data; the case file keeps this line and still verifies."""

    event_type: ClassVar[str] = "case.person_erased"

    report_id: uuid.UUID
    person_role: str = Field(max_length=24)  # caller, petitioner, requester
    person_ref: str = Field(min_length=1, max_length=64)  # the keyed pseudonym erased
    basis: ErasureBasis


class ContactUnmasked(IntegrationEvent):
    """Someone permitted read the plain contact of a report (e.g. to call the reporter
    back, 回访): who (actor), when, which case and why; never the data itself."""

    event_type: ClassVar[str] = "case.contact_unmasked"

    report_id: uuid.UUID
    person_role: str = Field(max_length=24)
    purpose: str = Field(min_length=1, max_length=200)  # redacted of phone/ID patterns
