"""The case as dispatch sees it: from dispatched to evaluated.

Commands are plain methods that check the rule first and raise `DomainError` naming it;
only then do they trigger a past-tense event, so a refused command changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.runtime.store import DomainError

Meta = dict[str, Any]  # actor, correlation_id, causation_id: who and why, kept on every event


class Status(StrEnum):
    DISPATCHED = "dispatched"  # 已派单
    SIGNED_FOR = "signed_for"  # 已签收
    HANDLED = "handled"  # 已办结
    VERIFIED = "verified"  # 已核查
    CLOSED = "closed"  # 已结案
    EVALUATED = "evaluated"  # 已评价


class Case(Aggregate):
    @event("Dispatched")
    def __init__(
        self,
        id: uuid.UUID,
        category: str,
        area_path: list[str],
        department: str,
        urgency: str,
        sign_deadline: datetime,
        handle_deadline: datetime,
        meta: Meta,
    ) -> None:
        self.category = category
        self.area_path = area_path
        self.department = department
        self.urgency = urgency
        self.sign_deadline = sign_deadline
        self.handle_deadline = handle_deadline
        self.round = 1  # +1 at every re-dispatch after a return
        self.reopen_count = 0
        self.status = Status.DISPATCHED
        self.handled_at: datetime | None = None

    # -- commands ---------------------------------------------------------------------

    def sign_for(self, department: str, meta: Meta) -> None:
        self._require_assigned(department)
        self._require(self.status is Status.DISPATCHED, "sign_for_requires_dispatched",
                      "only a dispatched case can be signed for")
        self._signed_for(department=department, meta=meta)

    def handle(self, department: str, result: str, evidence: list[str], at: datetime,
               meta: Meta) -> None:
        self._require_assigned(department)
        self._require(self.status is Status.SIGNED_FOR, "handle_requires_signed_for",
                      "a case must be signed for before it is handled")
        self._handled(department=department, result=result, evidence=evidence, at=at, meta=meta)

    def verify(self, passed: bool, method: str, remark: str, satisfaction: int | None,
               reopen_deadline: datetime, meta: Meta) -> None:
        self._require(self.status is Status.HANDLED, "verify_requires_handled",
                      "only a handled case can be verified")
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

    # -- guards -----------------------------------------------------------------------

    def _require(self, condition: bool, rule: str, message: str) -> None:
        if not condition:
            raise DomainError(rule, f"{message} (case is {self.status.value})")

    def _require_assigned(self, department: str) -> None:
        if department != self.department:
            raise DomainError("not_assigned_department",
                              f"case is assigned to {self.department}, not {department}")

    # -- events -----------------------------------------------------------------------

    @event("SignedFor")
    def _signed_for(self, department: str, meta: Meta) -> None:
        self.status = Status.SIGNED_FOR

    @event("Handled")
    def _handled(self, department: str, result: str, evidence: list[str], at: datetime,
                 meta: Meta) -> None:
        self.status = Status.HANDLED
        self.handled_at = at

    @event("Verified")
    def _verified(self, passed: bool, method: str, remark: str, satisfaction: int | None,
                  meta: Meta) -> None:
        self.status = Status.VERIFIED if passed else Status.HANDLED

    @event("Reopened")
    def _reopened(self, department: str, remark: str, handle_deadline: datetime,
                  meta: Meta) -> None:
        # Back to the same department, which already accepted it: it handles it again.
        self.status = Status.SIGNED_FOR
        self.reopen_count += 1
        self.handle_deadline = handle_deadline
        self.handled_at = None

    @event("Closed")
    def _closed(self, department: str, on_time: bool, meta: Meta) -> None:
        self.status = Status.CLOSED

    @event("Evaluated")
    def _evaluated(self, satisfaction: int, comment: str, meta: Meta) -> None:
        self.status = Status.EVALUATED
