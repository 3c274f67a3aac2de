"""The case as dispatch sees it: from dispatched to evaluated, with the department side of
the loop (return, re-dispatch, arbitration, extension, co-handling, consultation, whistle).

Commands are plain methods that check the rule first and raise `DomainError` naming it;
only then do they trigger a past-tense event, so a refused command changes nothing.

Decisions (services/dispatch/README.md has the whole picture):
- Two returns (MAX_RETURNS) send the case to arbitration by the level above the handling
  level; an arbitrated assignment can no longer be returned.
- The lead department handles only after every co-department reported its part and every
  consultation has its conclusion.
- A whistle (吹哨) summons departments to report in (报到) by a deadline; a late report in
  is recorded as late; closing the whistle records who reported and who did not.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.runtime.store import DomainError

Meta = dict[str, Any]  # actor, correlation_id, causation_id: who and why, kept on every event
MAX_RETURNS = 2


class Status(StrEnum):
    DISPATCHED = "dispatched"  # 已派单
    SIGNED_FOR = "signed_for"  # 已签收
    RETURNED = "returned"  # 已退单, waiting for the dispatcher
    ARBITRATION = "arbitration"  # 退单两次, waiting for the level above
    HANDLED = "handled"  # 已办结
    VERIFIED = "verified"  # 已核查
    CLOSED = "closed"  # 已结案
    EVALUATED = "evaluated"  # 已评价


OPEN = (Status.DISPATCHED, Status.SIGNED_FOR)  # assigned and being worked on
UNFINISHED = (*OPEN, Status.RETURNED, Status.ARBITRATION)


class Case(Aggregate):
    @event("Dispatched")
    def __init__(
        self,
        id: uuid.UUID,
        category: str,
        area_path: list[str],
        channel: str,
        department: str,
        level: str,
        handling_place: str,
        list_version: int,
        rule: dict[str, Any],
        urgency: str,
        urgency_reasons: list[str],
        sign_deadline: datetime,
        handle_deadline: datetime,
        return_deadline: datetime,
        warnings: list[str],
        meta: Meta,
    ) -> None:
        self.category = category
        self.area_path = area_path
        self.channel = channel
        self.list_version = list_version
        self.rule = rule
        self.urgency = urgency
        self.urgency_reasons = urgency_reasons
        self.round = 0  # +1 at every (re-)dispatch
        self.returns: list[dict[str, Any]] = []
        self.arbitrated = False
        self.reopen_count = 0
        self.handled_at: datetime | None = None
        self.extension: dict[str, Any] | None = None  # the pending request
        self.extensions: list[dict[str, Any]] = []  # decided requests, old deadline kept
        self.co_departments: dict[str, str | None] = {}  # department -> its reported part
        self.co_task = ""
        self.consultations: list[dict[str, Any]] = []
        self.whistles: list[dict[str, Any]] = []
        self.verifications: list[str] = []  # methods passed since the last handling
        self.remark = ""
        self._assign(department, level, handling_place, sign_deadline, handle_deadline,
                     return_deadline, warnings)

    def _assign(self, department: str, level: str, handling_place: str,
                sign_deadline: datetime, handle_deadline: datetime,
                return_deadline: datetime, warnings: list[str]) -> None:
        self.department = department
        self.level = level
        self.handling_place = handling_place
        self.sign_deadline = sign_deadline
        self.handle_deadline = handle_deadline
        self.original_handle_deadline = handle_deadline
        self.return_deadline = return_deadline
        self.warnings = warnings
        self.round += 1
        self.status = Status.DISPATCHED
        self.extension = None
        self.co_departments = {}

    # -- commands: the assigned department ----------------------------------------------

    def sign_for(self, department: str, meta: Meta) -> None:
        self._require_assigned(department)
        self._require(self.status is Status.DISPATCHED, "sign_for_requires_dispatched",
                      "only a dispatched case can be signed for")
        self._signed_for(department=department, meta=meta)

    def return_case(self, department: str, reason: str, at: datetime, meta: Meta) -> None:
        """退单: not ours, with a reason, within the return limit."""
        self._require_assigned(department)
        self._require(self.status in OPEN, "return_requires_open_assignment",
                      "only a dispatched or signed-for case can be returned")
        self._require(not self.arbitrated, "arbitrated_case_cannot_be_returned",
                      "the level above decided who handles this case")
        self._require(at <= self.return_deadline, "return_limit_passed",
                      f"the return limit ended at {self.return_deadline.isoformat()}")
        count = len(self.returns) + 1
        self._returned(department=department, reason=reason, returns=count,
                       to_arbitration=count >= MAX_RETURNS, meta=meta)

    def request_extension(self, department: str, reason: str, requested: datetime,
                          at: datetime, meta: Meta) -> None:
        """延期: asked before the handling deadline expires, decided by a dispatcher."""
        self._require_assigned(department)
        self._require(self.status is Status.SIGNED_FOR, "extension_requires_signed_for",
                      "only a signed-for case can ask for more time")
        self._require(at <= self.handle_deadline, "extension_after_expiry",
                      f"the handling deadline passed at {self.handle_deadline.isoformat()}")
        self._require(self.extension is None, "extension_already_pending",
                      "a request for more time is already waiting for a decision")
        self._require(requested > self.handle_deadline, "extension_must_extend",
                      "the requested deadline is not later than the current one")
        self._extension_requested(department=department, reason=reason,
                                  requested_deadline=requested, meta=meta)

    def report_part(self, department: str, part: str, meta: Meta) -> None:
        """A co-department (协办单位) reports what it did."""
        self._require(department in self.co_departments, "not_a_co_handler",
                      f"{department} is not a co-handler of this case")
        self._require(self.status in OPEN, "co_part_requires_open_case",
                      "the case is not being worked on")
        self._require(self.co_departments[department] is None, "co_part_already_reported",
                      f"{department} already reported its part")
        self._part_reported(department=department, part=part, meta=meta)

    def handle(self, department: str, result: str, evidence: list[str], at: datetime,
               meta: Meta) -> None:
        self._require_assigned(department)
        self._require(self.status is Status.SIGNED_FOR, "handle_requires_signed_for",
                      "a case must be signed for before it is handled")
        pending = sorted(d for d, part in self.co_departments.items() if part is None)
        self._require(not pending, "co_handlers_pending",
                      f"co-handlers have not reported their part: {', '.join(pending)}")
        self._require(not self.open_consultations, "consultation_open",
                      "a consultation has no conclusion yet")
        self._handled(department=department, result=result, evidence=evidence, at=at, meta=meta)

    # -- commands: dispatchers and the level above ---------------------------------------

    def redispatch(self, department: str, level: str, handling_place: str, remark: str,
                   deadlines: tuple[datetime, datetime, datetime], warnings: list[str],
                   meta: Meta) -> None:
        self._require(self.status is Status.RETURNED, "redispatch_requires_returned",
                      "only a returned case is re-dispatched")
        self._require(department != self.department, "redispatch_to_returning_department",
                      f"{department} just returned this case")
        sign, handle, ret = deadlines
        self._redispatched(**self._case_facts(), department=department, level=level,
                           handling_place=handling_place, remark=remark, sign_deadline=sign,
                           handle_deadline=handle, return_deadline=ret, warnings=warnings,
                           meta=meta)

    def arbitrate(self, department: str, level: str, handling_place: str, decision: str,
                  deadlines: tuple[datetime, datetime, datetime], warnings: list[str],
                  meta: Meta) -> None:
        self._require(self.status is Status.ARBITRATION, "arbitration_requires_repeated_returns",
                      f"arbitration follows {MAX_RETURNS} returns")
        sign, handle, ret = deadlines
        self._arbitrated(**self._case_facts(), department=department, level=level,
                         handling_place=handling_place, decision=decision, sign_deadline=sign,
                         handle_deadline=handle, return_deadline=ret, warnings=warnings,
                         meta=meta)

    def _case_facts(self) -> dict[str, Any]:
        """Carried on a re-assignment so its public CaseDispatched is complete."""
        return {"category": self.category, "area_path": self.area_path,
                "urgency": self.urgency, "round": self.round + 1}

    def decide_extension(self, approved: bool, remark: str, meta: Meta) -> None:
        self._require(self.extension is not None, "no_pending_extension",
                      "no request for more time is waiting")
        assert self.extension is not None
        if approved:
            self._extension_granted(department=self.department, remark=remark,
                                    previous_deadline=self.handle_deadline,
                                    handle_deadline=self.extension["requested_deadline"],
                                    meta=meta)
        else:
            self._extension_refused(department=self.department, remark=remark, meta=meta)

    def change_urgency(self, urgency: str, reason: str, meta: Meta) -> None:
        self._require(self.status in UNFINISHED or self.status is Status.HANDLED,
                      "urgency_requires_unfinished_case", "the case is already verified")
        self._require(urgency != self.urgency, "urgency_unchanged", f"already {urgency}")
        self._urgency_changed(department=self.department, urgency=urgency,
                              previous=self.urgency, reason=reason, meta=meta)

    # -- commands: co-handling, consultation, whistle -------------------------------------

    def request_co_handling(self, departments: list[str], task: str, meta: Meta) -> None:
        """协办: the lead (the assigned department) keeps the case; others help."""
        self._require(self.status in OPEN, "co_handling_requires_open_case",
                      "co-handlers join a case that is being worked on")
        self._require(self.department not in departments, "lead_cannot_co_handle",
                      f"{self.department} leads this case")
        again = sorted(set(departments) & set(self.co_departments))
        self._require(not again, "co_handler_already_assigned", ", ".join(again))
        self._co_handling_requested(lead=self.department, departments=departments, task=task,
                                    meta=meta)

    def open_consultation(self, subject: str, participants: list[str], meta: Meta) -> None:
        """会商研判 for a cross-cutting case; conclusions are recorded."""
        self._require(self.status in UNFINISHED, "consultation_requires_unfinished_case",
                      "the case is already handled")
        self._consultation_opened(number=len(self.consultations) + 1, subject=subject,
                                  participants=participants, meta=meta)

    def conclude_consultation(self, number: int, conclusion: str, decisions: list[str],
                              meta: Meta) -> None:
        self._require(1 <= number <= len(self.consultations), "no_such_consultation",
                      f"consultation {number} does not exist")
        self._require(self.consultations[number - 1]["conclusion"] is None,
                      "consultation_already_concluded", f"consultation {number} has ended")
        self._consultation_concluded(number=number, conclusion=conclusion,
                                     decisions=decisions, meta=meta)

    def whistle(self, place: str, departments: list[str], reason: str, deadline: datetime,
                meta: Meta) -> None:
        """吹哨: the town summons departments, each must report in by `deadline`."""
        self._require(self.status in UNFINISHED, "whistle_requires_unfinished_case",
                      "the case is already handled")
        self._require(self.active_whistle is None, "whistle_already_active",
                      "the last whistle has not been closed")
        self._whistle_blown(number=len(self.whistles) + 1, place=place,
                            departments=departments, reason=reason, report_deadline=deadline,
                            meta=meta)

    def report_in(self, department: str, at: datetime, meta: Meta) -> None:
        """报到."""
        w = self.active_whistle
        self._require(w is not None, "no_active_whistle", "no whistle is waiting for report in")
        assert w is not None
        self._require(department in w["departments"], "not_summoned",
                      f"{department} was not summoned")
        self._require(department not in w["reported"], "already_reported_in",
                      f"{department} already reported in")
        self._reported_in(number=w["number"], department=department, at=at,
                          on_time=at <= w["report_deadline"], meta=meta)

    def close_whistle(self, meta: Meta) -> None:
        w = self.active_whistle
        self._require(w is not None, "no_active_whistle", "no whistle is open")
        assert w is not None
        absent = [d for d in w["departments"] if d not in w["reported"]]
        late = [d for d, r in w["reported"].items() if not r["on_time"]]
        self._whistle_closed(number=w["number"], reported=sorted(w["reported"]),
                             absent=absent, late=sorted(late), meta=meta)

    # -- commands: verification and close ---------------------------------------------------

    def verify(self, passed: bool, method: str, remark: str, satisfaction: int | None,
               reopen_deadline: datetime, meta: Meta) -> None:
        """核查/回访: on site and/or by call-back; a second check uses the other method."""
        again = self.status is Status.VERIFIED and method not in self.verifications
        self._require(self.status is Status.HANDLED or again, "verify_requires_handled",
                      "only a handled case can be verified (once per method)")
        self._verified(passed=passed, method=method, remark=remark,
                       satisfaction=satisfaction, meta=meta)
        if not passed:
            self._reopened(department=self.department, remark=remark,
                           handle_deadline=reopen_deadline, meta=meta)

    def close(self, meta: Meta) -> None:
        self._require(self.status is Status.VERIFIED, "close_requires_verification",
                      "a case is closed only after a passed verification")
        on_time = self.handled_at is not None and self.handled_at <= self.handle_deadline
        self._closed(department=self.department, on_time=on_time, meta=meta)

    def evaluate(self, satisfaction: int, comment: str, meta: Meta) -> None:
        self._require(self.status is Status.CLOSED, "evaluate_requires_closed",
                      "only a closed case can be evaluated")
        self._evaluated(satisfaction=satisfaction, comment=comment, meta=meta)

    # -- queries ----------------------------------------------------------------------------

    @property
    def open_consultations(self) -> list[int]:
        return [c["number"] for c in self.consultations if c["conclusion"] is None]

    @property
    def active_whistle(self) -> dict[str, Any] | None:
        w = self.whistles[-1] if self.whistles else None
        return w if w is not None and not w["closed"] else None

    # -- guards -----------------------------------------------------------------------------

    def _require(self, condition: bool, rule: str, message: str) -> None:
        if not condition:
            raise DomainError(rule, f"{message} (case is {self.status.value})")

    def _require_assigned(self, department: str) -> None:
        if department != self.department:
            raise DomainError("not_assigned_department",
                              f"case is assigned to {self.department}, not {department}")

    # -- events -----------------------------------------------------------------------------

    @event("SignedFor")
    def _signed_for(self, department: str, meta: Meta) -> None:
        self.status = Status.SIGNED_FOR

    @event("Returned")
    def _returned(self, department: str, reason: str, returns: int, to_arbitration: bool,
                  meta: Meta) -> None:
        self.returns.append({"department": department, "reason": reason, "round": self.round})
        self.status = Status.ARBITRATION if to_arbitration else Status.RETURNED
        self.remark = reason

    @event("Redispatched")
    def _redispatched(self, category: str, area_path: list[str], urgency: str, round: int,
                      department: str, level: str, handling_place: str, remark: str,
                      sign_deadline: datetime, handle_deadline: datetime,
                      return_deadline: datetime, warnings: list[str], meta: Meta) -> None:
        self._assign(department, level, handling_place, sign_deadline, handle_deadline,
                     return_deadline, warnings)

    @event("Arbitrated")
    def _arbitrated(self, category: str, area_path: list[str], urgency: str, round: int,
                    department: str, level: str, handling_place: str, decision: str,
                    sign_deadline: datetime, handle_deadline: datetime,
                    return_deadline: datetime, warnings: list[str], meta: Meta) -> None:
        self._assign(department, level, handling_place, sign_deadline, handle_deadline,
                     return_deadline, warnings)
        self.arbitrated = True

    @event("ExtensionRequested")
    def _extension_requested(self, department: str, reason: str, requested_deadline: datetime,
                             meta: Meta) -> None:
        self.extension = {"reason": reason, "requested_deadline": requested_deadline}

    @event("ExtensionGranted")
    def _extension_granted(self, department: str, remark: str, previous_deadline: datetime,
                           handle_deadline: datetime, meta: Meta) -> None:
        assert self.extension is not None
        self.extensions.append({**self.extension, "approved": True, "remark": remark,
                                "previous_deadline": previous_deadline})
        self.handle_deadline = handle_deadline  # original_handle_deadline stays beside it
        self.extension = None

    @event("ExtensionRefused")
    def _extension_refused(self, department: str, remark: str, meta: Meta) -> None:
        assert self.extension is not None
        self.extensions.append({**self.extension, "approved": False, "remark": remark,
                                "previous_deadline": self.handle_deadline})
        self.extension = None

    @event("UrgencyChanged")
    def _urgency_changed(self, department: str, urgency: str, previous: str, reason: str,
                         meta: Meta) -> None:
        self.urgency = urgency
        self.urgency_reasons = [*self.urgency_reasons, f"manual:{reason}"]

    @event("CoHandlingRequested")
    def _co_handling_requested(self, lead: str, departments: list[str], task: str,
                               meta: Meta) -> None:
        self.co_departments.update(dict.fromkeys(departments))
        self.co_task = task

    @event("PartReported")
    def _part_reported(self, department: str, part: str, meta: Meta) -> None:
        self.co_departments[department] = part

    @event("ConsultationOpened")
    def _consultation_opened(self, number: int, subject: str, participants: list[str],
                             meta: Meta) -> None:
        self.consultations.append({"number": number, "subject": subject,
                                   "participants": participants, "conclusion": None,
                                   "decisions": []})

    @event("ConsultationConcluded")
    def _consultation_concluded(self, number: int, conclusion: str, decisions: list[str],
                                meta: Meta) -> None:
        self.consultations[number - 1].update(conclusion=conclusion, decisions=decisions)

    @event("WhistleBlown")
    def _whistle_blown(self, number: int, place: str, departments: list[str], reason: str,
                       report_deadline: datetime, meta: Meta) -> None:
        self.whistles.append({"number": number, "place": place, "departments": departments,
                              "reason": reason, "report_deadline": report_deadline,
                              "reported": {}, "closed": False, "absent": []})

    @event("ReportedIn")
    def _reported_in(self, number: int, department: str, at: datetime, on_time: bool,
                     meta: Meta) -> None:
        self.whistles[number - 1]["reported"][department] = {"at": at, "on_time": on_time}

    @event("WhistleClosed")
    def _whistle_closed(self, number: int, reported: list[str], absent: list[str],
                        late: list[str], meta: Meta) -> None:
        self.whistles[number - 1].update(closed=True, absent=absent)

    @event("Handled")
    def _handled(self, department: str, result: str, evidence: list[str], at: datetime,
                 meta: Meta) -> None:
        self.status = Status.HANDLED
        self.handled_at = at
        self.verifications = []

    @event("Verified")
    def _verified(self, passed: bool, method: str, remark: str, satisfaction: int | None,
                  meta: Meta) -> None:
        self.status = Status.VERIFIED if passed else Status.HANDLED
        if passed:
            self.verifications.append(method)

    @event("Reopened")
    def _reopened(self, department: str, remark: str, handle_deadline: datetime,
                  meta: Meta) -> None:
        # Back to the same department, which already accepted it: it handles it again.
        self.status = Status.SIGNED_FOR
        self.reopen_count += 1
        self.handle_deadline = handle_deadline
        self.handled_at = None
        self.remark = remark
        self.verifications = []

    @event("Closed")
    def _closed(self, department: str, on_time: bool, meta: Meta) -> None:
        self.status = Status.CLOSED

    @event("Evaluated")
    def _evaluated(self, satisfaction: int, comment: str, meta: Meta) -> None:
        self.status = Status.EVALUATED
