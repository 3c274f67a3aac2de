"""The dedup application: every report becomes a new case, joins an open case's file, is
linked to a recently closed case, or waits in the review queue; people review over HTTP.

The candidate index lives in memory and is folded from dedup's own notification log
(`refresh_index`), so it is rebuilt on restart and sees what other instances and the
review commands recorded. Within one consumer batch the decisions already taken are folded
at once, so the second of two duplicates in one batch finds the first.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import ProcessingEvent

from services.dedup.domain import IN_REVIEW, CaseFile, Decision
from services.dedup.index import CaseIndex, ReportFacts, demo_neighbours
from services.dedup.matching import MatchConfig, Matcher
from shared.events import Actor, IntegrationEvent
from shared.events.dispatch import CaseClosed
from shared.events.intake import CaseReported
from shared.runtime.meta import command_meta, meta_from, system_actor
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import Handler, Inbound, NotFoundError, ServiceApplication
from shared.runtime.tail import tail

log = logging.getLogger(__name__)

FOLDED = ("CaseFile.Received", "CaseFile.ReportJoined", "CaseFile.Registered",
          "CaseFile.ReportSplit", "CaseFile.Closed", "CaseFile.Merged")


class DedupSettings(ServiceSettings):
    open_window_days: float = 30.0  # an open case stays a candidate this long after its last report
    reopen_window_days: float = 30.0  # a closed case takes linked repeats this long
    max_index_cases: int = 250_000


class DedupApplication(ServiceApplication):
    name = "dedup"

    def __init__(self, settings: ServiceSettings, config: MatchConfig | None = None) -> None:
        super().__init__(settings)
        self.actor = system_actor("dedup")
        self.config = config or MatchConfig()
        self.index_lock = threading.RLock()
        self.queue: dict[uuid.UUID, dict[str, Any]] = {}  # report case id -> queued item
        # Facts a decision just computed, for folding its events (text features are most
        # of a decision's cost): report case id -> facts.
        self.decided: dict[uuid.UUID, ReportFacts] = {}
        self.own_log = tail(self, wanted=lambda topic: topic.endswith(FOLDED))
        self.index = self._new_index()
        self.refresh_index()  # millions of long-lived objects: frozen (runtime.collector)

    def handlers(self) -> dict[type[IntegrationEvent], Handler]:
        return {CaseReported: self.on_reported, CaseClosed: self.on_closed}

    # -- the index -----------------------------------------------------------------------

    def _new_index(self) -> CaseIndex:
        s = self.settings if isinstance(self.settings, DedupSettings) else DedupSettings()
        places = demo_neighbours()
        return CaseIndex(open_window=timedelta(days=s.open_window_days),
                         reopen_window=timedelta(days=s.reopen_window_days),
                         max_cases=s.max_index_cases, neighbours=places.around,
                         shapes=places.shape)

    def refresh_index(self) -> None:
        """Fold newly recorded case-file events into the index and the review queue."""
        with self.index_lock:
            for last, events in self.own_log.runs(self.index.position):
                for e in events:
                    self._fold(e)
                self.index.position = last

    def rebuild_index(self) -> None:
        with self.index_lock:
            self.index = self._new_index()
            self.queue.clear()
            self.refresh_index()

    def _fold(self, e: Any) -> None:
        kind = type(e).__name__
        rid = e.originator_id
        if kind == "Received":
            outcome = e.decision["outcome"]
            if outcome in ("new", "link"):
                self._add_case(rid, e.report)
            elif outcome == "review":
                self.queue[rid] = {"report_case_id": rid, "report": e.report,
                                   "decision": e.decision, "queued_at": e.timestamp}
        elif kind == "ReportJoined":
            if not self.index.has_report(rid, e.report_case_id):  # else folded already
                self.index.add_report(rid, self._facts(e.report_case_id, e.report))
            self.queue.pop(e.report_case_id, None)
        elif kind == "Registered":
            self.queue.pop(rid, None)
            self._add_case(rid, e.report)
        elif kind == "ReportSplit":
            self.index.remove_report(rid, e.report_case_id)
        elif kind == "Closed":
            self.index.close_case(rid, e.at)

    def _add_case(self, case_id: uuid.UUID, report: dict[str, Any]) -> None:
        if case_id not in self.index.entries:  # events folded ahead of the log come again
            self.index.add_case(self._facts(case_id, report))

    def _facts(self, case_id: uuid.UUID, report: dict[str, Any]) -> ReportFacts:
        facts = self.decided.pop(case_id, None)
        return facts if facts is not None else facts_of(case_id, report)

    def record_poll(self, batches: Sequence[Sequence[Inbound]]) -> None:
        with self.index_lock:
            self.refresh_index()
            try:
                super().record_poll(batches)
            except BaseException:
                # The poll was not recorded: forget what it folded in ahead of the log.
                self.rebuild_index()
                raise
            finally:
                self.decided.clear()

    # -- policy ------------------------------------------------------------------------------

    def on_reported(self, e: CaseReported, processing: ProcessingEvent[uuid.UUID]) -> None:
        if self.exists(e.case_id, processing):
            return  # a republished report
        report = report_of(e)
        facts = self.decided[e.case_id] = facts_of(e.case_id, report)
        decision = self.matcher.decide(facts)
        explanation = decision.explanation()
        meta = meta_from(e, self.actor)
        case = CaseFile(id=e.case_id, report=report, decision=explanation, meta=meta)
        changed = [case]
        if decision.outcome in ("merge", "link") and decision.case_id is not None:
            other: CaseFile = self.load(decision.case_id, processing)
            if decision.outcome == "merge":
                other.join(case, explanation, meta)
            else:
                other.repeat(case, explanation, meta)
            changed.append(other)
        self._collect(processing, changed)
        log.info("decided", extra={"outcome": decision.outcome, "reason": decision.reason,
                                   "candidates": len(decision.candidates)})

    def on_closed(self, e: CaseClosed, processing: ProcessingEvent[uuid.UUID]) -> None:
        if not self.exists(e.case_id, processing):
            return
        case: CaseFile = self.load(e.case_id, processing)
        if case.closed_at is None:
            case.close(e.occurred_at, meta_from(e, self.actor))
            self._collect(processing, [case])

    def _collect(self, processing: ProcessingEvent[uuid.UUID],
                 aggregates: list[CaseFile]) -> None:
        """Collect, and fold the new events at once: later reports of this batch see them."""
        before = len(processing.events)
        processing.collect_events(*aggregates)
        for domain_event in processing.events[before:]:
            self._fold(domain_event)

    @property
    def matcher(self) -> Matcher:
        return Matcher(self.index, self.config)

    # -- review commands (人工筛重) --------------------------------------------------------

    def get_file(self, case_id: uuid.UUID) -> CaseFile:
        if case_id not in self.repository:
            raise NotFoundError("case", case_id)
        case: CaseFile = self.repository.get(case_id)
        return case

    def confirm(self, report_case_id: uuid.UUID, into: uuid.UUID | None, actor: Actor,
                remark: str) -> CaseFile:
        report = self.get_file(report_case_id)
        target = into or _suggested(report.decision)
        if target is None:
            raise NotFoundError("candidate case for report", report_case_id)
        primary = self.get_file(target)
        decision = _by_person("review_confirmed", actor, remark, report.decision, target)
        report.confirm_into(primary, decision, command_meta(actor, target))
        self.save(report, primary)
        return primary

    def reject(self, report_case_id: uuid.UUID, actor: Actor, remark: str) -> CaseFile:
        report = self.get_file(report_case_id)
        decision = _by_person("review_rejected", actor, remark, report.decision, None)
        report.register(decision, command_meta(actor, report_case_id))
        self.save(report)
        return report

    def split(self, case_id: uuid.UUID, report_case_id: uuid.UUID, actor: Actor,
              remark: str) -> CaseFile:
        primary = self.get_file(case_id)
        report = self.get_file(report_case_id)
        decision = _by_person("split", actor, remark, report.decision, None)
        decision["split_from"] = str(case_id)
        report.split_out(primary, decision, command_meta(actor, report_case_id))
        self.save(primary, report)
        return report

    def review_queue(self) -> list[dict[str, Any]]:
        self.refresh_index()
        with self.index_lock:
            items = list(self.queue.values())
        return sorted(items, key=lambda i: (i["queued_at"], str(i["report_case_id"])))

    def is_queued(self, report_case_id: uuid.UUID) -> bool:
        return self.get_file(report_case_id).status == IN_REVIEW


def _suggested(decision: Decision) -> uuid.UUID | None:
    return uuid.UUID(decision["case_id"]) if decision.get("case_id") else None


def _by_person(reason: str, actor: Actor, remark: str, before: Decision,
               case_id: uuid.UUID | None) -> Decision:
    """A person's decision, keeping what the matcher had seen beside it."""
    return {"outcome": "merge" if case_id else "new", "reason": reason,
            "case_id": str(case_id) if case_id else None, "by": actor.id, "remark": remark,
            "candidates": before.get("candidates", [])}


def report_of(e: CaseReported) -> dict[str, Any]:
    return {
        "report_id": str(e.report_id), "channel": e.channel.value, "category": e.category,
        "title": e.title, "description": e.description,
        "location": e.location.model_dump() if e.location else None,
        "place_code": e.place_code, "area_path": list(e.area_path),
        "reported_at": e.reported_at.isoformat(),
        "assigned_department": e.assigned_department,
    }


def facts_of(case_id: uuid.UUID, report: dict[str, Any]) -> ReportFacts:
    loc = report["location"]
    return ReportFacts(
        case_id=case_id, report_id=uuid.UUID(report["report_id"]), channel=report["channel"],
        category=report["category"], title=report["title"],
        description=report["description"],
        lon=loc["lon"] if loc else None, lat=loc["lat"] if loc else None,
        area_path=tuple(report["area_path"]),
        reported_at=datetime.fromisoformat(report["reported_at"]))
