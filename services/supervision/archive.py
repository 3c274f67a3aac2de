"""The case archive (一件一档) and its hash chain.

One `CaseArchive` per case: its stored events are the case's integration events from every
service, in the order supervision received them. Each entry carries the hash of the entry
before it and its own hash over that link and the entry's canonical bytes, so a changed,
removed or reordered stored event breaks the chain at that entry (`verify_chain`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

ARCHIVE_NAMESPACE = uuid.UUID("a7c2d9e4-1f35-4b8a-9c60-3e2d1f0b5a77")
GENESIS = "0" * 64  # the link before the first entry


def archive_id(case_id: uuid.UUID) -> uuid.UUID:
    """The archive's own id: a watch already uses the case id in this store."""
    return uuid.uuid5(ARCHIVE_NAMESPACE, str(case_id))


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, event_topic: str, case_id: uuid.UUID, seq: int,
               at: datetime, entry: dict[str, Any]) -> str:
    """sha256 over the previous hash and everything an entry says, in a fixed layout."""
    h = hashlib.sha256()
    for part in (prev_hash, event_topic, str(case_id), str(seq), at.isoformat()):
        h.update(part.encode())
        h.update(b"\x1f")  # unit separator: no two layouts give the same bytes
    h.update(canonical(entry))
    return h.hexdigest()


class CaseArchive(Aggregate):
    """Entries are integration events as they travelled (their wire JSON)."""

    class Opened(Aggregate.Created):
        case_id: uuid.UUID
        entry: dict[str, Any]
        prev_hash: str
        hash: str

    class Archived(Aggregate.Event):
        entry: dict[str, Any]
        prev_hash: str
        hash: str

        def apply(self, aggregate: Any) -> None:
            aggregate.entries.append(self.entry)
            aggregate.head = self.hash
            aggregate.event_ids.add(self.entry["event_id"])

    def __init__(self, case_id: uuid.UUID, entry: dict[str, Any], prev_hash: str,
                 hash: str) -> None:
        self.case_id = case_id
        self.entries: list[dict[str, Any]] = [entry]
        self.head = hash
        self.event_ids = {entry["event_id"]}

    @classmethod
    def open(cls, case_id: uuid.UUID, entry: dict[str, Any], at: datetime) -> CaseArchive:
        digest = chain_hash(GENESIS, get_topic(cls.Opened), case_id, 1, at, entry)
        return cls._create(cls.Opened, id=archive_id(case_id), timestamp=at, case_id=case_id,
                           entry=entry, prev_hash=GENESIS, hash=digest)

    def has(self, event_id: str) -> bool:
        return event_id in self.event_ids

    def append(self, entry: dict[str, Any], at: datetime) -> None:
        """Add an entry unless it is already here (a republished event has the same id)."""
        if self.has(entry["event_id"]):
            return
        digest = chain_hash(self.head, get_topic(self.Archived), self.case_id,
                            self.version + 1, at, entry)
        self.trigger_event(self.Archived, timestamp=at, entry=entry, prev_hash=self.head,
                           hash=digest)


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: `ok`, or the first broken entry (1-based) and why."""

    case_id: uuid.UUID
    ok: bool
    entries: int
    head: str | None
    broken_at: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "ok": self.ok, "entries": self.entries,
                "head": self.head, "broken_at": self.broken_at, "reason": self.reason}


_FIELDS = {
    CaseArchive.Opened: {"timestamp", "originator_topic", "case_id", "entry", "prev_hash", "hash"},
    CaseArchive.Archived: {"timestamp", "entry", "prev_hash", "hash"},
}


def verify_chain(case_id: uuid.UUID, stored: Sequence[StoredEvent], mapper: Mapper[Any]
                 ) -> ChainReport:
    """Walk the stored events of one archive from the first and stop at the first break.

    Every byte of a stored event is covered: its state must decode, must be exactly the
    bytes that re-encoding the decoded event gives (so no byte changes without changing a
    value), and the values must hash to the stored hash, linked to the entry before."""
    prev = GENESIS
    for n, record in enumerate(stored, start=1):
        digest, problem = _check(case_id, n, record, prev, mapper)
        if problem is not None:
            return ChainReport(case_id, False, len(stored), None, n, problem)
        prev = digest
    return ChainReport(case_id, True, len(stored), prev if stored else None)


def _check(case_id: uuid.UUID, n: int, record: StoredEvent, prev: str,
           mapper: Mapper[Any]) -> tuple[str, str | None]:
    """(the entry's hash, None) if it holds, else ("", the problem): see verify_chain."""
    if record.originator_version != n:
        return "", f"missing entry: expected sequence {n}, found {record.originator_version}"
    try:
        event = mapper.to_domain_event(record)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a broken entry
        return "", f"unreadable stored event ({type(exc).__name__})"
    if not isinstance(event, CaseArchive.Opened | CaseArchive.Archived):
        return "", f"not an archive entry ({record.topic})"
    fields = set(vars(event)) - {"originator_id", "originator_version"}
    if fields != _FIELDS[type(event)]:
        return "", "stored event has other fields than an archive entry"
    again = mapper.to_stored_event(event)
    if again.state != record.state or again.topic != record.topic:
        return "", "stored bytes differ from the canonical encoding of their values"
    if isinstance(event, CaseArchive.Opened) and (
            event.case_id != case_id or event.originator_topic != get_topic(CaseArchive)):
        return "", "first entry belongs to another archive"
    if event.prev_hash != prev:
        return "", "link to the previous entry is broken"
    try:
        expected = chain_hash(prev, record.topic, case_id, n, event.timestamp, event.entry)
    except (AttributeError, TypeError, ValueError):
        return "", "stored event has values of the wrong type"
    if event.hash != expected:
        return "", "hash does not match the entry's content"
    return expected, None
