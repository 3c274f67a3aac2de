"""Supervision: what the hash-chained case archive costs, and how fast it is checked.

- consume: case events through `SupervisionApplication.process_batch` (100 per batch, the
  embedded store) with the archive, beside the same application with archiving switched
  off (the watch alone) in the same run: `archive_overhead_ratio` = baseline / with archive.
- verify: archive entries checked per second (`verify_chain`: decode, re-encode, hash),
  beside loading the same archives from the repository (decode only).
- evaluation: one department evaluation over all cases (folding every archive).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.application import ProcessingEvent

from services.supervision.application import SupervisionApplication, SupervisionSettings
from services.supervision.archive import archive_id
from shared.events import Actor, Channel, IntegrationEvent
from shared.events.dedup import CaseRegistered
from shared.events.dispatch import CaseClosed, CaseDispatched, CaseHandled, CaseSignedFor
from shared.events.intake import CaseReported
from shared.runtime.store import Inbound

CASES = 600
BATCH = 100
AREA = ("350300", "350302", "350302001")
GW = Actor(id="gw-1", role="grid_worker")
STAFF = Actor(id="um-1", role="department_staff")


class WatchOnly(SupervisionApplication):
    """The baseline: the same service without the archive."""

    def archive(self, e: IntegrationEvent, processing: ProcessingEvent[uuid.UUID]) -> None:
        return None


def case_events(case_id: uuid.UUID, t0: datetime) -> list[tuple[str, IntegrationEvent]]:
    def env(n: int, producer: str, actor: Actor) -> dict[str, Any]:
        return {"event_id": uuid.uuid4(), "case_id": case_id, "correlation_id": case_id,
                "occurred_at": t0 + timedelta(minutes=n), "producer": producer,
                "actor": actor}

    common: dict[str, Any] = {
        "report_id": case_id, "channel": Channel.GRID_APP, "category": "urban.garbage",
        "description": "小区东门垃圾桶满溢", "area_path": AREA, "reported_at": t0}
    return [
        ("gov.intake.events", CaseReported(**env(0, "intake", GW), external_ref=str(case_id),
                                           **common)),
        ("gov.dedup.events", CaseRegistered(**env(1, "dedup", GW), **common)),
        ("gov.dispatch.events", CaseDispatched(
            **env(2, "dispatch", GW), department="urban_mgmt", category="urban.garbage",
            area_path=AREA, round=1, sign_deadline=t0 + timedelta(hours=2),
            handle_deadline=t0 + timedelta(days=2))),
        ("gov.dispatch.events", CaseSignedFor(**env(3, "dispatch", STAFF),
                                              department="urban_mgmt")),
        ("gov.dispatch.events", CaseHandled(**env(4, "dispatch", STAFF),
                                            department="urban_mgmt", result="已清运")),
        ("gov.dispatch.events", CaseClosed(**env(5, "dispatch", STAFF),
                                           department="urban_mgmt", on_time=True)),
    ]


def consume(app: SupervisionApplication, cases: list[uuid.UUID]) -> float:
    """Events per second, one batch of BATCH messages per topic at a time."""
    t0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    by_topic: dict[str, list[IntegrationEvent]] = {}
    for case in cases:
        for topic, e in case_events(case, t0):
            by_topic.setdefault(topic, []).append(e)
    total = sum(len(v) for v in by_topic.values())
    started = time.perf_counter()
    for topic in ("gov.intake.events", "gov.dedup.events", "gov.dispatch.events"):
        events = by_topic[topic]
        for i in range(0, len(events), BATCH):
            app.process_batch([Inbound(topic, 0, i + n, e)
                               for n, e in enumerate(events[i:i + BATCH])])
    return total / (time.perf_counter() - started)


def run(ctx: Any) -> dict[str, Any]:
    scratch = Path(ctx.scratch) / "supervision"
    cases = [uuid.uuid4() for _ in range(CASES)]

    def settings(name: str) -> SupervisionSettings:
        return SupervisionSettings(service_name="supervision", data_dir=scratch / name,
                                   clock="driven")

    with_archive = SupervisionApplication(settings("archive"))
    baseline = WatchOnly(settings("baseline"))
    baseline_rate = consume(baseline, cases)
    archive_rate = consume(with_archive, cases)

    started = time.perf_counter()
    entries = 0
    for case in cases:
        report = with_archive.verify_archive(case)
        assert report.ok
        entries += report.entries
    verify_rate = entries / (time.perf_counter() - started)
    started = time.perf_counter()
    for case in cases:
        with_archive.repository.get(archive_id(case))
    load_rate = entries / (time.perf_counter() - started)

    started = time.perf_counter()
    groups = with_archive.evaluate("department", lambda _s: True)["groups"]
    evaluation_ms = (time.perf_counter() - started) * 1000
    assert groups["urban_mgmt"]["volume"]["cases"] == CASES
    return {
        "supervision_consume_events_per_s": round(archive_rate),
        "supervision_consume_watch_only_events_per_s": round(baseline_rate),
        "supervision_archive_overhead_ratio": round(baseline_rate / archive_rate, 2),
        "supervision_verify_entries_per_s": round(verify_rate),
        "supervision_load_entries_per_s": round(load_rate),
        "supervision_verify_vs_load_ratio": round(load_rate / verify_rate, 2),
        "supervision_evaluation_ms_600_cases": round(evaluation_ms, 1),
    }
