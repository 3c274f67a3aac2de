"""How each integration event changes a case row. Pure: a dict in, the same dict changed.

Events of one case from one producer arrive in order (one topic, keyed by case id); across
producers they may not, and a rebuild meets the topics in another interleaving than the
live service did. So every field is decided by something that does not depend on that
interleaving, kept in the row's `facts`:

- a field offered by several producers (category, area, ...) holds the offer of the
  highest rank (dispatch > dedup > intake; an empty offer below any real one); equal ranks
  come from one producer, whose own order decides;
- the status is the last step of dispatch's stream, else the furthest early status;
- warned / overdue hold while an alarm names a deadline that is still live: a re-dispatch,
  a reopening or an extension replaces the deadlines, so an alarm for an old one, whenever
  it arrives, no longer counts;
- counts (reports merged in, merges of this report) are sums, never clamped; a report is
  merged while it was merged into a case more often than split out of it (batch.py keeps
  its row, out of the lists, and files its events with that case).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import IntegrationEvent

STATUS_BY_EVENT = {
    "case.reported": "reported",
    "case.registered": "registered",
    "case.dispatched": "dispatched",
    "case.signed_for": "signed_for",
    "case.handled": "handled",
    "case.verified": "verified",
    "case.reopened": "signed_for",
    "case.closed": "closed",
    "case.evaluated": "evaluated",
    "case.returned": "returned",  # waiting for re-dispatch, or for arbitration (payload)
    "case.review_queued": "in_review",  # dedup's review queue (人工筛重)
}
EARLY = ("reported", "in_review", "registered")  # set by intake and dedup, which race dispatch
# The rank of each producer's offer for a field several of them carry.
RANK = {"case.reported": 1, "case.registered": 2, "case.dispatched": 3}
EMPTY = -10  # an empty offer ranks below every real one
ZERO = timedelta(0)


def utc(value: datetime | None) -> datetime | None:
    if value is None or value.utcoffset() == ZERO:  # parsed events are mostly UTC already
        return value
    return value.astimezone(UTC)


def new_facts() -> dict[str, Any]:
    return {}


def copy_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough to change without touching the stored row's facts."""
    return {k: (v.copy() if isinstance(v, dict | list) else v) for k, v in facts.items()}


def apply_event(row: dict[str, Any], e: IntegrationEvent) -> None:
    """`e` changes its own case's row (`row` is the row of `e.case_id`)."""
    touch(row, e)
    facts = row["facts"]
    _status(row, facts, e)
    data = vars(e)  # the fields as they are: dumping every event would cost more than applying it
    match e.event_type:
        case "case.reported" | "case.registered":
            _offer_report(row, facts, e.event_type, data)
        case "case.report_merged":  # this case is the primary
            row["report_count"] = int(row["report_count"]) + 1
        case "case.report_split":  # this case is the report leaving `from_case_id`
            _count_merge(facts, str(data["from_case_id"]), -1)
        case "case.dispatched":
            _offer(row, facts, "category", data["category"], 3)
            _offer(row, facts, "area_path", "/".join(data["area_path"]), 3)
            row.update(department=data["department"], urgency=data["urgency"],
                       dispatched_at=utc(e.occurred_at),
                       sign_deadline=utc(data["sign_deadline"]),
                       handle_deadline=utc(data["handle_deadline"]))
            facts["live"] = {"sign": _iso(data["sign_deadline"]),
                             "handle": _iso(data["handle_deadline"])}
            _alarm_flags(row, facts)
        case "case.reopened" | "case.extension_granted":
            if e.event_type == "case.reopened":
                row["reopen_count"] = int(row["reopen_count"]) + 1
            row["handle_deadline"] = utc(data["handle_deadline"])
            facts["live"] = {"handle": _iso(data["handle_deadline"])}
            _alarm_flags(row, facts)
        case "case.urgency_changed":
            row["urgency"] = data["urgency"]
        case "case.closed":
            row.update(closed_at=utc(e.occurred_at), on_time=data["on_time"])
        case "case.verified" if data.get("satisfaction"):  # the reporter's word at call-back
            row["satisfaction"] = data["satisfaction"]
        case "case.evaluated":
            row["satisfaction"] = data["satisfaction"]
        case "case.warned" | "case.overdue":
            _alarm(facts, e.event_type.removeprefix("case."), data)
            _alarm_flags(row, facts)
        case "case.escalated":
            row["escalated"] = True


def apply_link(row: dict[str, Any], e: IntegrationEvent) -> None:
    """The other case a merge or split names (`row`): the merged report, or the case a
    split report leaves."""
    touch(row, e)
    if e.event_type == "case.report_merged":
        _count_merge(row["facts"], str(e.case_id), +1)
    elif e.event_type == "case.report_split":
        row["report_count"] = int(row["report_count"]) - 1


def merged_into(row: dict[str, Any]) -> str | None:
    """The case this report is merged into now: merged more often than split out."""
    into = sorted(case for case, n in row["facts"].get("merged", {}).items() if n > 0)
    return into[0] if into else None


def touch(row: dict[str, Any], e: IntegrationEvent) -> None:
    # The latest moment, not the last arrival: a rebuild meets the topics in another order.
    at, latest = utc(e.occurred_at), row.get("updated_at")
    if latest is None or (at is not None and at > latest):
        row["updated_at"] = at


def _offer_report(row: dict[str, Any], facts: dict[str, Any], event_type: str,
                  data: dict[str, Any]) -> None:
    rank = RANK[event_type]
    offers = (("category", data["category"]), ("title", data["title"]),
              ("description", data["description"]), ("place_code", data["place_code"]),
              ("channel", data["channel"].value), ("area_path", "/".join(data["area_path"])),
              ("reported_at", utc(data["reported_at"])))
    for key, value in offers:
        _offer(row, facts, key, value, rank)


def _offer(row: dict[str, Any], facts: dict[str, Any], key: str, value: Any,
           rank: int) -> None:
    ranks = facts.setdefault("rank", {})
    rank = rank if value else EMPTY + rank
    if rank >= ranks.get(key, EMPTY * 2):
        row[key] = value
        ranks[key] = rank


def _status(row: dict[str, Any], facts: dict[str, Any], e: IntegrationEvent) -> None:
    new = STATUS_BY_EVENT.get(e.event_type)
    if new is None:
        return
    if new in EARLY:
        facts["early"] = max(facts.get("early", 0), EARLY.index(new))
    else:
        facts["step"] = new  # dispatch's own stream: its order is the case's order
    row["status"] = facts.get("step") or EARLY[facts.get("early", 0)]


def _count_merge(facts: dict[str, Any], case_id: str, by: int) -> None:
    merged = facts.setdefault("merged", {})
    merged[case_id] = merged.get(case_id, 0) + by


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _alarm(facts: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    alarms = facts.setdefault(kind, [])
    alarm = f"{data['deadline_kind']}@{_iso(data['deadline'])}"
    if alarm not in alarms:
        alarms.append(alarm)
        alarms.sort()


def _alarm_flags(row: dict[str, Any], facts: dict[str, Any]) -> None:
    live = {f"{kind}@{at}" for kind, at in facts.get("live", {}).items()}
    row["warned"] = not live.isdisjoint(facts.get("warned", ()))
    row["overdue"] = not live.isdisjoint(facts.get("overdue", ()))
