"""A hypothesis state machine over the case lifecycle in dispatch.

A small independent model says which steps are legal; the machine tries legal and illegal
steps alike and checks that a step succeeds exactly when the model allows it, that a
refused step changes nothing, that the version equals the number of events, and that
replaying the events rebuilds the same state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.dispatch.domain import MAX_RETURNS, Case
from shared.runtime.store import DomainError

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
META = {"actor": {"id": "m", "role": "system", "name": ""}, "correlation_id": str(uuid.uuid4()),
        "causation_id": None}
DEPTS = ("urban_mgmt", "ecology", "police", "housing")
STATE = ("status", "department", "round", "returns", "arbitrated", "sign_deadline",
         "handle_deadline", "original_handle_deadline", "return_deadline", "extension",
         "extensions", "co_departments", "consultations", "whistles", "reopen_count",
         "urgency", "urgency_reasons", "verifications", "handled_at", "remark", "version")
OPEN = ("dispatched", "signed_for")
UNFINISHED = (*OPEN, "returned", "arbitration")
H = timedelta(hours=1)
# "lead" and "co" stand for the current lead and a current co-handler, so that legal steps
# are common enough for the machine to walk deep into the lifecycle.
WHO = st.sampled_from(("lead", "lead", "co", *DEPTS))
RARE = st.integers(0, 3)  # steps that end or stall a walk run only when this draws 3


def deadlines(at: datetime) -> tuple[datetime, datetime, datetime]:
    return at + H, at + 10 * H, at + 5 * H


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        sign, handle, ret = deadlines(T0)
        self.case = Case(id=uuid.uuid4(), category="urban.garbage", area_path=["350300"],
                         channel="grid_app", department="urban_mgmt", level="district",
                         handling_place="350300", list_version=1, rule={}, urgency="normal",
                         urgency_reasons=[], sign_deadline=sign, handle_deadline=handle,
                         return_deadline=ret, warnings=[], meta=META)
        self.events: list[Any] = list(self.case.collect_events())
        self.now = T0
        # The model: what should be, kept apart from the aggregate.
        self.m: dict[str, Any] = {"status": "dispatched", "dept": "urban_mgmt", "returns": 0,
                                  "arbitrated": False, "pending_ext": False, "co": {},
                                  "open_consults": set(), "consults": 0, "whistle": None,
                                  "verified": set(), "urgency": "normal",
                                  "handle_deadline": handle, "return_deadline": ret}

    # -- the harness -----------------------------------------------------------------

    def attempt(self, legal: bool, step: Any) -> bool:
        before = {k: repr(getattr(self.case, k)) for k in STATE}
        try:
            step()
        except DomainError:
            assert not legal, "the model allowed a step the case refused"
            assert {k: repr(getattr(self.case, k)) for k in STATE} == before
            return False
        assert legal, "the case accepted a step the model forbids"
        self.events += self.case.collect_events()
        return True

    def who(self, choice: str) -> str:
        if choice == "lead":
            return str(self.m["dept"])
        if choice == "co":
            waiting = sorted(d for d, done in self.m["co"].items() if not done)
            return waiting[0] if waiting else "housing"
        return choice

    def assigned(self) -> None:
        self.m.update(status="dispatched", pending_ext=False, co={},
                      handle_deadline=self.now + 10 * H, return_deadline=self.now + 5 * H)

    # -- steps ----------------------------------------------------------------------------

    @rule(minutes=st.integers(0, 150))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(choice=WHO)
    def sign_for(self, choice: str) -> None:
        dept = self.who(choice)
        legal = dept == self.m["dept"] and self.m["status"] == "dispatched"
        if self.attempt(legal, lambda: self.case.sign_for(dept, META)):
            self.m["status"] = "signed_for"

    @rule(choice=WHO, go=RARE)
    def return_case(self, choice: str, go: int) -> None:
        if go != 3:
            return
        dept = self.who(choice)
        legal = (dept == self.m["dept"] and self.m["status"] in OPEN
                 and not self.m["arbitrated"] and self.now <= self.m["return_deadline"])
        if self.attempt(legal, lambda: self.case.return_case(dept, "不属本部门", self.now, META)):
            self.m["returns"] += 1
            self.m["status"] = "arbitration" if self.m["returns"] >= MAX_RETURNS else "returned"

    @rule(dept=st.sampled_from(DEPTS))
    def redispatch(self, dept: str) -> None:
        legal = self.m["status"] == "returned" and dept != self.m["dept"]
        if self.attempt(legal, lambda: self.case.redispatch(
                dept, "district", "350300", "", deadlines(self.now), [], META)):
            self.m["dept"] = dept
            self.assigned()

    @rule(dept=st.sampled_from(DEPTS))
    def arbitrate(self, dept: str) -> None:
        legal = self.m["status"] == "arbitration"
        if self.attempt(legal, lambda: self.case.arbitrate(
                dept, "district", "350300", "裁定", deadlines(self.now), [], META)):
            self.m.update(dept=dept, arbitrated=True)
            self.assigned()

    @rule(choice=WHO, hours=st.integers(-2, 20))
    def request_extension(self, choice: str, hours: int) -> None:
        dept = self.who(choice)
        requested = self.m["handle_deadline"] + hours * H
        legal = (dept == self.m["dept"] and self.m["status"] == "signed_for"
                 and self.now <= self.m["handle_deadline"] and not self.m["pending_ext"]
                 and requested > self.m["handle_deadline"])
        if self.attempt(legal, lambda: self.case.request_extension(
                dept, "需要更多时间", requested, self.now, META)):
            self.m.update(pending_ext=True, requested=requested)

    @rule(approved=st.booleans())
    def decide_extension(self, approved: bool) -> None:
        legal = self.m["pending_ext"]
        if self.attempt(legal, lambda: self.case.decide_extension(approved, "", META)):
            self.m["pending_ext"] = False
            if approved:
                self.m["handle_deadline"] = self.m["requested"]

    @rule(depts=st.lists(st.sampled_from(DEPTS), min_size=1, max_size=2, unique=True))
    def co_handling(self, depts: list[str]) -> None:
        legal = (self.m["status"] in OPEN and self.m["dept"] not in depts
                 and not set(depts) & set(self.m["co"]))
        if self.attempt(legal, lambda: self.case.request_co_handling(depts, "协助", META)):
            self.m["co"].update(dict.fromkeys(depts, False))

    @rule(choice=WHO)
    def report_part(self, choice: str) -> None:
        dept = self.who(choice)
        legal = (dept in self.m["co"] and self.m["status"] in OPEN
                 and not self.m["co"][dept])
        if self.attempt(legal, lambda: self.case.report_part(dept, "已完成", META)):
            self.m["co"][dept] = True

    @rule(go=RARE)
    def open_consultation(self, go: int) -> None:
        if go != 3:
            return
        legal = self.m["status"] in UNFINISHED
        if self.attempt(legal, lambda: self.case.open_consultation("会商", ["a", "b"], META)):
            self.m["consults"] += 1
            self.m["open_consults"].add(self.m["consults"])

    @rule(number=st.integers(0, 3), oldest=st.booleans())
    def conclude_consultation(self, number: int, oldest: bool) -> None:
        if oldest and self.m["open_consults"]:
            number = min(self.m["open_consults"])
        legal = number in self.m["open_consults"]
        if self.attempt(legal, lambda: self.case.conclude_consultation(number, "结论", [], META)):
            self.m["open_consults"].discard(number)

    @rule(depts=st.lists(st.sampled_from(DEPTS), min_size=1, max_size=3, unique=True),
          go=RARE)
    def whistle(self, depts: list[str], go: int) -> None:
        if go != 3:
            return
        legal = self.m["status"] in UNFINISHED and self.m["whistle"] is None
        if self.attempt(legal, lambda: self.case.whistle("350300001", depts, "吹哨",
                                                         self.now + 2 * H, META)):
            self.m["whistle"] = {"summoned": set(depts), "reported": set()}

    @rule(dept=st.sampled_from(DEPTS))
    def report_in(self, dept: str) -> None:
        w = self.m["whistle"]
        legal = w is not None and dept in w["summoned"] and dept not in w["reported"]
        if self.attempt(legal, lambda: self.case.report_in(dept, self.now, META)):
            w["reported"].add(dept)

    @rule()
    def close_whistle(self) -> None:
        legal = self.m["whistle"] is not None
        if self.attempt(legal, lambda: self.case.close_whistle(META)):
            self.m["whistle"] = None

    @rule(choice=WHO)
    def handle(self, choice: str) -> None:
        dept = self.who(choice)
        legal = (dept == self.m["dept"] and self.m["status"] == "signed_for"
                 and all(self.m["co"].values()) and not self.m["open_consults"])
        if self.attempt(legal, lambda: self.case.handle(dept, "已办结", [], self.now, META)):
            self.m.update(status="handled", verified=set())

    @rule(passed=st.booleans(), method=st.sampled_from(("on_site", "call_back")))
    def verify(self, passed: bool, method: str) -> None:
        legal = self.m["status"] == "handled" or (
            self.m["status"] == "verified" and method not in self.m["verified"])
        if self.attempt(legal, lambda: self.case.verify(passed, method, "复核", 4,
                                                        self.now + 10 * H, META)):
            if passed:
                self.m["status"] = "verified"
                self.m["verified"].add(method)
            else:
                self.m.update(status="signed_for", verified=set(),
                              handle_deadline=self.now + 10 * H)

    @rule()
    def close(self) -> None:
        if self.attempt(self.m["status"] == "verified", lambda: self.case.close(META)):
            self.m["status"] = "closed"

    @rule()
    def evaluate(self) -> None:
        if self.attempt(self.m["status"] == "closed", lambda: self.case.evaluate(5, "", META)):
            self.m["status"] = "evaluated"

    @rule(level=st.sampled_from(("urgent", "normal")))
    def change_urgency(self, level: str) -> None:
        legal = (self.m["status"] in (*UNFINISHED, "handled") and level != self.m["urgency"])
        if self.attempt(legal, lambda: self.case.change_urgency(level, "人工调整", META)):
            self.m["urgency"] = level

    # -- the next natural step, so that walks get deep (the rules above add the noise) -----

    @rule(dept=st.sampled_from(DEPTS[1:]), passed=st.booleans())
    def advance(self, dept: str, passed: bool) -> None:
        status = self.m["status"]
        if status == "dispatched":
            self.sign_for("lead")
        elif status == "signed_for" and not all(self.m["co"].values()):
            self.report_part("co")
        elif status == "signed_for" and self.m["open_consults"]:
            self.conclude_consultation(0, oldest=True)
        elif status == "signed_for":
            self.handle("lead")
        elif status in ("handled", "verified"):
            self.verify(passed, "call_back" if "on_site" in self.m["verified"] else "on_site")
        elif status == "returned":
            self.redispatch(dept if dept != self.m["dept"] else "urban_mgmt")
        elif status == "arbitration":
            self.arbitrate(dept)
        else:
            self.evaluate() if status == "closed" else self.close()

    @rule(kind=st.sampled_from(("return", "return", "late_extension", "extension")))
    def detour(self, kind: str) -> None:
        """The lead's side roads: a return, or more time asked in time or too late."""
        if kind == "return":
            self.return_case("lead", go=3)
            return
        if kind == "late_extension":
            self.now = max(self.now, self.m["handle_deadline"] + H)
        self.request_extension("lead", hours=5)
        self.decide_extension(approved=kind == "extension")

    @rule(dept=st.sampled_from(DEPTS[1:]), passed=st.booleans())
    def advance_again(self, dept: str, passed: bool) -> None:
        self.advance(dept, passed)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.case.status.value == self.m["status"]
        assert self.case.department == self.m["dept"]
        assert self.case.handle_deadline == self.m["handle_deadline"]

    @invariant()
    def version_counts_the_events(self) -> None:
        assert self.case.version == len(self.events)

    @invariant()
    def replay_rebuilds_the_same_state(self) -> None:
        replayed = None
        for e in self.events:
            replayed = e.mutate(replayed)
        assert replayed is not None
        assert {k: repr(getattr(replayed, k)) for k in STATE} == \
            {k: repr(getattr(self.case, k)) for k in STATE}


Lifecycle.TestCase.settings = settings(max_examples=300, stateful_step_count=50,
                                       deadline=None)
TestCaseLifecycle = Lifecycle.TestCase
