"""`make soak`: a steady load for ten minutes (not in CI), reporting throughput and each
service's memory over time to bench/results/soak.json.

Runs on its own broker, database and ports (slot 9), like the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import typer

from govctl.load import distinct_reports
from govctl.processes import REPO, Stack, infra
from shared.runtime.auth import issue_token

SLOT = 9
KAFKA_ENV = {"KAFKA_STATE_DIR": str(REPO / ".local" / "kafka-soak"),
             "KAFKA_PORT": str(29092 + 10 * SLOT), "KAFKA_CONTROLLER_PORT": str(29093 + 10 * SLOT)}
PG_ENV = {"PG_STATE_DIR": str(REPO / ".local" / "pg-soak"), "PG_PORT": str(25432 + SLOT)}
PORTS = {n: 8201 + 100 * SLOT + i for i, n in
         enumerate(("intake", "dedup", "dispatch", "supervision", "projections"))}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(minutes: float = 10.0, rate: float = 50.0, sample_every: float = 10.0) -> None:
    key = secrets.token_hex(32)
    infra("kafka", "clean", env=KAFKA_ENV)
    infra("kafka", "start", env=KAFKA_ENV)
    infra("postgres", "clean", env=PG_ENV)
    infra("postgres", "start", env=PG_ENV)
    env = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{KAFKA_ENV['KAFKA_PORT']}",
           "DATABASE_URL": infra("postgres", "url", env=PG_ENV), "GOV_AUTH_SECRET": key,
           "GOV_DATA_DIR": str(REPO / "var" / "soak"), "GOV_LOG_LEVEL": "WARNING"}
    stack = Stack(env=env, log_dir=REPO / "var" / "soak" / "logs", ports=PORTS)
    stack.start()
    samples: list[dict[str, Any]] = []
    sent = [0]
    stop = threading.Event()
    token = issue_token("soak", "grid_worker", "350300", key=key)
    loader = threading.Thread(target=_load, args=(stack, token, rate, stop, sent))
    try:
        loader.start()
        began = time.monotonic()
        while time.monotonic() - began < minutes * 60:
            time.sleep(sample_every)
            samples.append(_sample(stack, token, began, sent[0]))
            typer.echo(json.dumps(samples[-1], ensure_ascii=False))
    finally:
        stop.set()
        loader.join()
        stack.stop()
        infra("kafka", "stop", env=KAFKA_ENV)
        infra("postgres", "stop", env=PG_ENV)
    out = REPO / "bench" / "results" / "soak.json"
    out.write_text(json.dumps({"rate_offered": rate, "minutes": minutes, "samples": samples},
                              indent=2))
    typer.echo(f"wrote {out}")


def _load(stack: Stack, token: str, rate: float, stop: threading.Event, sent: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url("intake"), headers=headers, timeout=30) as client:
        while not stop.is_set():
            tick = time.monotonic()
            for body in distinct_reports(int(rate), start=sent[0]):
                body["external_ref"] = f"soak-{sent[0]}"
                client.post("/api/reports", json=body)
                sent[0] += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def _sample(stack: Stack, token: str, began: float, sent: int) -> dict[str, Any]:
    leader = {"Authorization": f"Bearer {token}"}
    counts = httpx.get(f"{stack.url('projections')}/api/stats/status", headers=leader).json()
    return {"t_s": round(time.monotonic() - began), "reports_sent": sent,
            "cases_projected": sum(counts.values()),
            "rss_mib": {n: round(rss_mib(p.proc.pid), 1) for n, p in stack.processes.items()
                        if p.proc is not None}}


if __name__ == "__main__":
    os.environ.setdefault("GOV_ENV", "development")
    typer.run(main)
