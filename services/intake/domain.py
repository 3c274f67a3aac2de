"""A report (上报/来件): one submission from one channel, placed in the hierarchy, and
what intake learns of its case afterwards (for Open311 status and the manual queue)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.runtime.store import DomainError

Meta = dict[str, Any]

REPORT_NAMESPACE = uuid.UUID("3f6c1d2e-7a4b-5c8d-9e0f-a1b2c3d4e5f6")

# Case states as dispatch reports them; Open311 knows only open and closed.
CLOSED_STATES = frozenset({"closed", "evaluated"})


def report_id(channel: str, external_ref: str) -> uuid.UUID:
    """The same channel + external reference always names the same report (and case)."""
    return uuid.uuid5(REPORT_NAMESPACE, f"{channel}:{external_ref}")


class Report(Aggregate):
    @event("Received")
    def __init__(
        self,
        id: uuid.UUID,
        channel: str,
        external_ref: str,
        category: str,
        title: str,
        description: str,
        location: dict[str, float] | None,
        place_code: str | None,
        area_path: list[str],
        placed: bool,
        reported_at: datetime,
        attachments: list[str],
        meta: Meta,
        address: str = "",
        source_category: str = "",
        assigned_department: str | None = None,
        channel_details: dict[str, str] | None = None,
        contact: dict[str, str] | None = None,  # sealed + masked: never plain text
    ) -> None:
        self.channel = channel
        self.external_ref = external_ref
        self.category = category
        self.area_path = area_path
        self.place_code = place_code
        self.placed = placed
        self.status = "reported"
        self.department: str | None = assigned_department
        self.merged_into: uuid.UUID | None = None
        self.seen: list[str] = []  # ids of case events already applied (republishes)
        self.contact = contact
        self.contact_erased = False

    def place(self, place_code: str, area_path: list[str], location: dict[str, float] | None,
              meta: Meta) -> None:
        if self.placed:
            raise DomainError("already_placed", f"report {self.id} is placed at "
                                                f"{self.place_code or '/'.join(self.area_path)}")
        self._placed(place_code=place_code, area_path=area_path, location=location, meta=meta)

    @event("Placed")
    def _placed(self, place_code: str, area_path: list[str], location: dict[str, float] | None,
                meta: Meta) -> None:
        self.place_code = place_code
        self.area_path = area_path
        self.placed = True

    def follow(self, source_event_id: str, status: str, department: str | None, note: str,
               meta: Meta) -> bool:
        """Record what happened to the case (from dedup and dispatch); False if known."""
        if source_event_id in self.seen:
            return False
        self._status_changed(source_event_id=source_event_id, status=status,
                             department=department, note=note, meta=meta)
        return True

    @event("StatusChanged")
    def _status_changed(self, source_event_id: str, status: str, department: str | None,
                        note: str, meta: Meta) -> None:
        self.seen = [*self.seen[-31:], source_event_id]
        self.status = status
        if status == "split":
            self.merged_into = None
        if department:
            self.department = department

    def merge_into(self, source_event_id: str, case_id: uuid.UUID, meta: Meta) -> bool:
        if source_event_id in self.seen or self.merged_into == case_id:
            return False
        self._merged(source_event_id=source_event_id, case_id=case_id, meta=meta)
        return True

    @event("Merged")
    def _merged(self, source_event_id: str, case_id: uuid.UUID, meta: Meta) -> None:
        self.seen = [*self.seen[-31:], source_event_id]
        self.merged_into = case_id
        self.status = "merged"

    # -- the contact person: erased (crypto-shredding), or unmasked on record -------------

    def erase_contact(self, basis: str, meta: Meta) -> bool:
        """Record that the contact person was erased; False if there is none or it was
        already recorded (the key itself is deleted by the vault)."""
        if not self.contact or self.contact_erased:
            return False
        self._contact_erased(person_ref=self.contact["person_ref"],
                             role=self.contact["role"], basis=basis, meta=meta)
        return True

    @event("ContactErased")
    def _contact_erased(self, person_ref: str, role: str, basis: str, meta: Meta) -> None:
        self.contact_erased = True

    def record_unmasking(self, purpose: str, meta: Meta) -> None:
        """Every reading of the plain contact is recorded before it is shown."""
        if not self.contact:
            raise DomainError("no_contact", f"report {self.id} names no contact person")
        if self.contact_erased:
            raise DomainError("personal_data_erased",
                              f"the contact person of report {self.id} was erased")
        self._contact_unmasked(role=self.contact["role"], purpose=purpose, meta=meta)

    @event("ContactUnmasked")
    def _contact_unmasked(self, role: str, purpose: str, meta: Meta) -> None:
        pass
