"""The real Los Angeles 311 sample imported into the running platform and replayed end to
end: every row becomes a case (or a listed bad row), every case reaches the read model,
and importing the file again records nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from govctl.processes import REPO, Stack
from tests.e2e.conftest import auth, eventually, wait_quiet

pytestmark = pytest.mark.e2e

SAMPLE = REPO.parent / "shared" / "data" / "la311_2017_sample.csv"
MAPPING = REPO / "data" / "la311" / "mapping.toml"
LA_LEADER = auth("la-1", "leader", "990100", "LA lead")


def run_importer(stack: Stack, *args: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "services.intake.importer", str(SAMPLE), "--mapping", str(MAPPING),
         *args], cwd=REPO, env={**os.environ, **stack.env, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tally: dict[str, int] = json.loads(done.stdout[done.stdout.rindex("{\n"):])
    return tally


def test_the_la_sample_imports_fully_replays_end_to_end_and_reimports_nothing(
        stack: Stack, kafka: str, tmp_path: Path) -> None:
    rows = sum(1 for _ in SAMPLE.open(encoding="utf-8")) - 1
    cp = str(tmp_path / "la.checkpoint.json")
    first = run_importer(stack, "--checkpoint", cp, "--limit", "3000")
    assert first["rows"] == 3000
    resumed = run_importer(stack, "--checkpoint", cp)  # carries on after the checkpoint
    assert resumed["rows"] == rows
    assert resumed["created"] + resumed["existing"] + resumed["bad"] == rows
    assert resumed["created"] + resumed["bad"] == rows  # every row a case or a reported bad row
    report = (tmp_path / "la.checkpoint.report.csv").read_text().splitlines()
    assert len(report) == 1 + resumed["bad"]

    again = run_importer(stack, "--checkpoint", cp, "--restart")
    assert again["created"] == 0 and again["existing"] == resumed["created"]

    # Replayed end to end: dedup decided on every imported report (a new case, merged into
    # a nearby one, or queued for a person), as intake learns from the case topics.
    def replayed() -> dict[str, int] | None:
        r = httpx.get(f"{stack.url('intake')}/api/reports/stats", headers=LA_LEADER,
                      params={"channel": "import"})
        counts: dict[str, int] = r.json()
        return counts if sum(counts.values()) == resumed["created"] and \
            "reported" not in counts else None

    counts = eventually(replayed, timeout=900, every=3)
    assert counts.get("merged", 0) + counts.get("in_review", 0) < resumed["created"]

    # Every case dedup registered from the import is in the read model (merged reports
    # join their case's file instead).
    registered = resumed["created"] - counts.get("merged", 0)

    def in_read_model() -> dict[str, int] | None:
        r = httpx.get(f"{stack.url('projections')}/api/stats/status", headers=LA_LEADER,
                      params={"area": "990100"}, timeout=30)
        found: dict[str, int] = r.json()
        return found if sum(found.values()) >= registered else None

    eventually(in_read_model, timeout=600, every=5)
    unplaced = httpx.get(f"{stack.url('intake')}/api/reports/unplaced",
                         headers=auth("la-d", "dispatcher", "990100")).json()
    assert len(unplaced) == resumed["unplaced"]
    assert all(r["channel"] == "import" and r["area_path"] == ["990100"] for r in unplaced)
    wait_quiet(kafka)  # ten thousand cases still flowing would slow every later test
