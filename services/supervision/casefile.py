"""The case file (一件一档) read from the archive: who did what and when, and the state of
the case folded from its entries, as of now or any past moment (time travel).

Pure functions over archive entries (integration events as they travelled), so the same
fold serves the file, time travel, the printable archive and the evaluation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Entry = dict[str, Any]

STATUS_BY_EVENT = {
    "case.reported": "reported",
    "case.registered": "registered",
    "case.dispatched": "dispatched",
    "case.signed_for": "signed_for",
    "case.returned": "returned",
    "case.handled": "handled",
    "case.verified": "verified",
    "case.reopened": "signed_for",
    "case.closed": "closed",
    "case.evaluated": "evaluated",
}
EARLY = ("reported", "registered")  # intake and dedup race dispatch across topics
ALARMS = {"case.warned": "warned", "case.overdue": "overdue", "case.reminded": "reminded",
          "case.escalated": "escalated"}


def when(entry: Entry) -> datetime:
    return datetime.fromisoformat(entry["occurred_at"])


def in_time_order(entries: list[Entry]) -> list[Entry]:
    """By when it happened; arrival order (the chain's) breaks ties."""
    return [e for _, _, e in sorted((when(e), i, e) for i, e in enumerate(entries))]


def as_of(entries: list[Entry], moment: datetime | None) -> list[Entry]:
    """The entries that had happened by `moment` (all of them when None)."""
    if moment is None:
        return list(entries)
    return [e for e in entries if when(e) <= moment]


def new_state(case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id, "status": None, "category": None, "channel": None, "title": None,
        "area_path": [], "place_code": None, "reported_at": None, "department": None,
        "urgency": None, "round": 0, "dispatches": [], "returns": [], "sign_deadline": None,
        "handle_deadline": None, "signed_at": None, "handled_at": None, "handled_count": 0,
        "verifications": [], "reopen_count": 0, "extensions": [], "closed_at": None,
        "on_time": None, "satisfaction": None, "alarms": [], "notices": {},
        "reports": [], "phases": [], "last_event_at": None,
    }


def fold(case_id: str, entries: list[Entry]) -> dict[str, Any]:
    """The state of a case after `entries`, applied in the order they happened."""
    state = new_state(case_id)
    for e in in_time_order(entries):
        apply(state, e)
    return state


def apply(s: dict[str, Any], e: Entry) -> None:
    kind = e["event_type"]
    s["last_event_at"] = e["occurred_at"]
    _status(s, kind)
    handler = _APPLY.get(kind)
    if handler is not None:
        handler(s, e)


def _status(s: dict[str, Any], kind: str) -> None:
    new = STATUS_BY_EVENT.get(kind)
    if new is None:
        return
    current = s["status"]
    if new in EARLY and current is not None and (
            current not in EARLY or EARLY.index(current) >= EARLY.index(new)):
        return  # a late intake/dedup event never moves a case backwards
    s["status"] = new


def _reported(s: dict[str, Any], e: Entry) -> None:
    for key in ("category", "title", "channel", "place_code", "reported_at"):
        s[key] = s[key] or e.get(key)
    s["area_path"] = s["area_path"] or list(e["area_path"])
    if e.get("report_id") and e["report_id"] not in s["reports"]:
        s["reports"].append(e["report_id"])


def _merged(s: dict[str, Any], e: Entry) -> None:
    if e["report_id"] not in s["reports"]:
        s["reports"].append(e["report_id"])


def _dispatched(s: dict[str, Any], e: Entry) -> None:
    s.update(department=e["department"], urgency=e["urgency"], category=e["category"],
             area_path=list(e["area_path"]), round=e.get("round", 1),
             sign_deadline=e["sign_deadline"], handle_deadline=e["handle_deadline"],
             signed_at=None, handled_at=None)
    s["dispatches"].append({"department": e["department"], "round": e.get("round", 1),
                            "at": e["occurred_at"], "sign_deadline": e["sign_deadline"],
                            "answer": None, "answered_at": None})
    _new_phase(s, e["department"], e["handle_deadline"])


def _new_phase(s: dict[str, Any], department: str, deadline: str) -> None:
    """A handling phase: one deadline for one department, until handled or returned."""
    s["phases"].append({"department": department, "deadline": deadline, "handled_at": None,
                        "ended_at": None})


def _phase(s: dict[str, Any], **changes: Any) -> None:
    if s["phases"]:
        current = s["phases"][-1]
        current.update({k: v for k, v in changes.items() if current.get(k) is None
                        or k == "deadline"})


def _answer(s: dict[str, Any], e: Entry, answer: str) -> None:
    for d in reversed(s["dispatches"]):
        if d["department"] == e["department"] and d["answer"] is None:
            d.update(answer=answer, answered_at=e["occurred_at"])
            return


def _signed_for(s: dict[str, Any], e: Entry) -> None:
    s["signed_at"] = e["occurred_at"]
    _answer(s, e, "signed_for")


def _returned(s: dict[str, Any], e: Entry) -> None:
    s["returns"].append({"department": e["department"], "at": e["occurred_at"],
                         "reason": e.get("reason", "")})
    _answer(s, e, "returned")
    _phase(s, ended_at=e["occurred_at"])


def _handled(s: dict[str, Any], e: Entry) -> None:
    s["handled_at"] = e["occurred_at"]
    s["handled_count"] += 1
    _phase(s, handled_at=e["occurred_at"])


def _verified(s: dict[str, Any], e: Entry) -> None:
    s["verifications"].append({"passed": e["passed"], "method": e["method"],
                               "at": e["occurred_at"]})
    if e.get("satisfaction") is not None:
        s["satisfaction"] = e["satisfaction"]


def _reopened(s: dict[str, Any], e: Entry) -> None:
    s["reopen_count"] += 1
    s["handle_deadline"] = e["handle_deadline"]
    s["handled_at"] = None
    _new_phase(s, e["department"], e["handle_deadline"])


def _extended(s: dict[str, Any], e: Entry) -> None:
    s["extensions"].append({"from": e.get("previous_deadline"), "to": e["handle_deadline"],
                            "at": e["occurred_at"]})
    s["handle_deadline"] = e["handle_deadline"]
    _phase(s, deadline=e["handle_deadline"])


def _closed(s: dict[str, Any], e: Entry) -> None:
    s.update(closed_at=e["occurred_at"], on_time=e["on_time"])


def _evaluated(s: dict[str, Any], e: Entry) -> None:
    s["satisfaction"] = e["satisfaction"]


def _alarm(s: dict[str, Any], e: Entry) -> None:
    s["alarms"].append({"level": ALARMS[e["event_type"]], "kind": e["deadline_kind"],
                        "department": e["department"], "at": e["occurred_at"]})


def _notice(s: dict[str, Any], e: Entry) -> None:
    notice = s["notices"].setdefault(e["notice_id"], {
        "department": e["department"], "reason": None, "respond_by": None,
        "issued_at": None, "issued_by": None, "answered_at": None, "response": None,
        "on_time": None, "overdue": False})
    match e["event_type"]:
        case "case.notice_issued":
            notice.update(reason=e["reason"], respond_by=e["respond_by"],
                          issued_at=e["occurred_at"], issued_by=e["actor"])
        case "case.notice_answered":
            notice.update(answered_at=e["occurred_at"], response=e["response"],
                          on_time=e["on_time"])
        case "case.notice_overdue":
            notice["overdue"] = True


_APPLY = {
    "case.reported": _reported, "case.registered": _reported,
    "case.report_merged": _merged, "case.dispatched": _dispatched,
    "case.signed_for": _signed_for, "case.returned": _returned, "case.handled": _handled,
    "case.verified": _verified, "case.reopened": _reopened,
    "case.extension_granted": _extended, "case.closed": _closed,
    "case.evaluated": _evaluated,
    **dict.fromkeys(ALARMS, _alarm),
    **dict.fromkeys(("case.notice_issued", "case.notice_answered", "case.notice_overdue"),
                    _notice),
}


def is_case(state: dict[str, Any]) -> bool:
    """A registered case (an archive of a report later merged elsewhere is not one)."""
    return state["status"] not in (None, "reported")


def line(seq: int, e: Entry, source: str) -> dict[str, Any]:
    """One line of the file: what happened, who did it, when, and the entry as it was."""
    envelope = {"event_id", "event_type", "schema_version", "case_id", "occurred_at",
                "producer", "correlation_id", "causation_id", "actor"}
    return {"seq": seq, "source": source, "event_id": e["event_id"],
            "event_type": e["event_type"], "producer": e["producer"],
            "occurred_at": e["occurred_at"], "actor": e["actor"],
            "details": {k: v for k, v in e.items() if k not in envelope}}
