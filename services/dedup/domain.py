"""A case file as dedup keeps it: one per report (its id is the report's own provisional
case id). A report either opens a case of its own (立案), joins another case's file
(合并), or waits for a person in the review queue (人工筛重). A primary case lists every
report in its file with its channel; a merged report points at its primary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.runtime.store import DomainError

Meta = dict[str, Any]
Report = dict[str, Any]  # what intake sent: channel, category, texts, location, area path
Decision = dict[str, Any]  # outcome, reason, case_id, candidates with their signals

REGISTERED, MERGED, IN_REVIEW = "registered", "merged", "in_review"


class CaseFile(Aggregate):
    @event("Received")
    def __init__(self, id: uuid.UUID, report: Report, decision: Decision, meta: Meta) -> None:
        self.report = report
        self.area_path: list[str] = list(report["area_path"])
        self.category: str = report["category"]
        self.decision = decision
        outcome = decision["outcome"]
        self.status = {"merge": MERGED, "review": IN_REVIEW}.get(outcome, REGISTERED)
        self.primary_id: uuid.UUID | None = _uuid(decision["case_id"]) if outcome == "merge" \
            else None
        self.linked_case_id: uuid.UUID | None = _uuid(decision["case_id"]) \
            if outcome == "link" else None
        # The reports in this case's file, in order: report case id -> (report id, channel).
        self.members: dict[str, tuple[str, str]] = {}
        if self.status == REGISTERED:
            self.members[str(id)] = (str(report["report_id"]), report["channel"])
        self.closed_at: datetime | None = None
        self.repeats: list[str] = []

    @property
    def report_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(rid) for rid, _ in self.members.values()]

    @property
    def is_open_case(self) -> bool:
        return self.status == REGISTERED and self.closed_at is None

    # -- the primary's side -------------------------------------------------------------

    def join(self, other: CaseFile, decision: Decision, meta: Meta) -> None:
        """Another report joins this case's file."""
        if not self.is_open_case:
            raise DomainError("merge_target_not_open",
                              f"case {self.id} is {self._state()}: only an open case takes "
                              "reports")
        if str(other.id) in self.members:
            return
        self._report_joined(report_case_id=other.id, report=other.report, decision=decision,
                            meta=meta)

    def split(self, report_case_id: uuid.UUID, reason: str, meta: Meta) -> None:
        if str(report_case_id) not in self.members or report_case_id == self.id:
            raise DomainError("not_a_merged_report",
                              f"report {report_case_id} is not merged into case {self.id}")
        report_id, channel = self.members[str(report_case_id)]
        self._report_split(report_case_id=report_case_id, report_id=report_id,
                           channel=channel, reason=reason, meta=meta)

    def close(self, at: datetime, meta: Meta) -> None:
        if self.status == REGISTERED and self.closed_at is None:
            self._closed(at=at, meta=meta)

    def repeat(self, other: CaseFile, decision: Decision, meta: Meta) -> None:
        """A report of the same problem soon after closing: linked, flagged for reopening."""
        if str(other.id) not in self.repeats:
            self._repeat_linked(report_case_id=other.id, report=other.report,
                                decision=decision, meta=meta)

    @event("ReportJoined")
    def _report_joined(self, report_case_id: uuid.UUID, report: Report, decision: Decision,
                       meta: Meta) -> None:
        self.members[str(report_case_id)] = (str(report["report_id"]), report["channel"])

    @event("ReportSplit")
    def _report_split(self, report_case_id: uuid.UUID, report_id: str, channel: str,
                      reason: str, meta: Meta) -> None:
        self.members.pop(str(report_case_id), None)

    @event("Closed")
    def _closed(self, at: datetime, meta: Meta) -> None:
        self.closed_at = at

    @event("RepeatLinked")
    def _repeat_linked(self, report_case_id: uuid.UUID, report: Report, decision: Decision,
                       meta: Meta) -> None:
        self.repeats.append(str(report_case_id))

    # -- the report's side ----------------------------------------------------------------

    def confirm_into(self, primary: CaseFile, decision: Decision, meta: Meta) -> None:
        """The review confirms the report duplicates `primary`."""
        self._require_in_review()
        if primary.id == self.id:
            raise DomainError("merge_into_itself", "a report cannot be merged into itself")
        primary.join(self, decision, meta)
        self._merged(into=primary.id, decision=decision, meta=meta)

    def register(self, decision: Decision, meta: Meta) -> None:
        """The review rejects the duplicate: the report becomes a case of its own."""
        self._require_in_review()
        self._registered(report=self.report, decision=decision, meta=meta)

    def split_out(self, primary: CaseFile, decision: Decision, meta: Meta) -> None:
        """Take a merged report back out of its primary: it becomes a case of its own."""
        if self.status != MERGED or self.primary_id != primary.id:
            raise DomainError("not_a_merged_report",
                              f"report {self.id} is not merged into case {primary.id}")
        primary.split(self.id, decision["reason"], meta)
        self._registered(report=self.report, decision=decision, meta=meta)

    @event("Merged")
    def _merged(self, into: uuid.UUID, decision: Decision, meta: Meta) -> None:
        self.status = MERGED
        self.primary_id = into
        self.decision = decision

    @event("Registered")
    def _registered(self, report: Report, decision: Decision, meta: Meta) -> None:
        self.status = REGISTERED
        self.primary_id = None
        self.decision = decision
        self.members = {str(self.id): (str(report["report_id"]), report["channel"])}

    def _require_in_review(self) -> None:
        if self.status != IN_REVIEW:
            raise DomainError("not_in_review", f"report {self.id} is {self._state()}, "
                                               "not waiting in the review queue")

    def _state(self) -> str:
        return "closed" if self.closed_at is not None else self.status


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None
