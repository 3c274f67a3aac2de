"""Intake: the HTTP intake rate and the bulk import rate, beside the bare event store.

Baseline: the same event store (SQLite, this machine, this run) recording trivial
aggregates 500 per transaction — what any intake write costs at least. The HTTP figure is
real HTTP over loopback to the intake routes (validation, placement, idempotency check,
PII sealing, one transaction per report); the import figure is the LA 311 sample through
the importer (mapping, placement, batches of 500).
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
import types
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eventsourcing.domain import Aggregate, event

from bench.__main__ import BenchContext
from services.intake.application import IntakeApplication
from services.intake.bootstrap import SPEC
from services.intake.importer import Checkpoint, Mapping, fingerprint, run_import
from services.intake.placement import combined_registry
from services.intake.settings import IntakeSettings
from shared.runtime.auth import issue_token
from shared.runtime.service import create_http_app
from shared.runtime.store import ServiceApplication

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "data" / "la311_2017_sample.csv"
MAPPING = REPO / "data" / "la311" / "mapping.toml"
HTTP_REPORTS = 600
BASELINE_EVENTS = 20_000


class Blip(Aggregate):
    @event("Created")
    def __init__(self, n: int) -> None:
        self.n = n


def store_baseline(folder: Path) -> float:
    app = ServiceApplication(IntakeSettings(service_name="baseline", data_dir=folder))
    started = time.perf_counter()
    for start in range(0, BASELINE_EVENTS, 500):
        app.save(*(Blip(n) for n in range(start, start + 500)))
    rate = BASELINE_EVENTS / (time.perf_counter() - started)
    app.close()
    return rate


def http_rate(folder: Path) -> tuple[float, float]:
    settings = IntakeSettings(service_name="intake", data_dir=folder)
    app = IntakeApplication(settings)
    http = create_http_app(SPEC, types.SimpleNamespace(sink=app, settings=settings))  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(http, host="127.0.0.1", port=0, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    token = issue_token("gw-bench", "grid_worker", "350300")
    grid = _post_all(port, token, "/api/reports", lambda i: {
        "external_ref": f"bench-{uuid.uuid4()}", "category": "urban.garbage",
        "description": "垃圾满溢，两天没人清运",
        "location": {"lon": 119.02 + i * 1e-5, "lat": 25.44}})
    op = issue_token("op-bench", "hotline_operator", "350300")
    hotline = _post_all(port, op, "/api/channels/hotline_12345", lambda i: {
        "work_order_no": f"GD-{uuid.uuid4().hex}", "call_time": "2026-03-02T09:05:00+08:00",
        "caller": {"name": "张三", "phone": f"138{i:08d}"}, "content": "楼下油烟很大",
        "hotline_category": "餐饮油烟", "location": {"lon": 119.02, "lat": 25.44}})
    server.should_exit = True
    thread.join(10)
    app.close()
    return grid, hotline


def _post_all(port: int, token: str, path: str, body: Any) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        started = time.perf_counter()
        for i in range(HTTP_REPORTS):
            r = client.post(path, json=body(i))
            if r.status_code != 202:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
        return HTTP_REPORTS / (time.perf_counter() - started)


def import_rate(folder: Path) -> tuple[float, int]:
    mapping = Mapping.load(MAPPING)
    app = IntakeApplication(IntakeSettings(service_name="intake", data_dir=folder),
                            registry=combined_registry((str(mapping.registry),)))
    cp = Checkpoint(folder / "cp.json", fingerprint(SAMPLE))
    started = time.perf_counter()
    tally = run_import(SAMPLE, mapping, app, checkpoint=cp, report=folder / "report.csv")
    rate = tally.rows / (time.perf_counter() - started)
    app.close()
    return rate, tally.created


def run(ctx: BenchContext) -> dict[str, Any]:
    os.environ.setdefault("GOV_AUTH_SECRET", secrets.token_hex(32))
    root = ctx.scratch / "intake"
    shutil.rmtree(root, ignore_errors=True)
    baseline = store_baseline(root / "baseline")
    grid, hotline = http_rate(root / "http")
    imported, created = import_rate(root / "import")
    ctx.notes.append(f"intake: HTTP figures are {HTTP_REPORTS} sequential requests over "
                     f"loopback, one transaction each; import: LA 311 sample, {created} rows, "
                     "batches of 500; store baseline: 500 trivial aggregates per transaction, "
                     "SQLite")
    return {
        "intake.store_baseline_events_per_s": round(baseline, 1),
        "intake.http_grid_reports_per_s": round(grid, 1),
        "intake.http_hotline_transfers_per_s": round(hotline, 1),
        "intake.import_rows_per_s": round(imported, 1),
        "intake.http_vs_store_baseline": round(grid / baseline, 4),
        "intake.import_vs_store_baseline": round(imported / baseline, 4),
    }
