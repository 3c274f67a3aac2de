"""`python -m bench <suite>` updates the last full report: the named suites' figures are
new, the others and the full run's date and machine are kept, and the partial run is
listed under `updates` with its own date and load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench


def full_report() -> dict[str, Any]:
    return {"started_at": "2026-12-06T23:24:23+00:00",
            "machine": {"cpus": 2, "load_avg_at_start": [1.67, 1.2, 1.0]},
            "suites": {"la311": {"seconds": 300.0}, "e2e": {"seconds": 200.0}},
            "errors": {"la311": "TimeoutError: broker", "e2e": "OSError: port"},
            "notes": ["from the full run"], "targets": {}, "updates": [],
            "la311_routing_agreement": 0.5, "e2e_cases_per_s": 217.7}


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    (tmp_path / "latest.json").write_text(json.dumps(full_report()))

    def measured(name: str, ctx: bench.BenchContext, report: dict[str, Any]) -> None:
        ctx.figures["la311_routing_agreement"] = 1.0
        ctx.notes.append(f"{name} ran again")
        report["suites"][name] = {"seconds": 12.0}

    monkeypatch.setattr(bench, "_run_suite", measured)
    return tmp_path


def test_a_named_suite_updates_its_figures_and_keeps_the_full_runs_date(results: Path) -> None:
    bench.main(["la311"])
    report = json.loads((results / "latest.json").read_text())
    assert report["la311_routing_agreement"] == 1.0
    assert report["e2e_cases_per_s"] == 217.7
    assert report["started_at"] == "2026-12-06T23:24:23+00:00"
    assert report["machine"]["load_avg_at_start"] == [1.67, 1.2, 1.0]
    assert report["suites"] == {"la311": {"seconds": 12.0}, "e2e": {"seconds": 200.0}}
    assert report["errors"] == {"e2e": "OSError: port"}  # la311's error is answered
    assert report["notes"] == ["from the full run", "la311 ran again"]
    [update] = report["updates"]
    assert update["suites"] == ["la311"] and update["started_at"] > report["started_at"]
    assert len(update["load_avg_at_start"]) == len(update["load_avg_at_end"]) == 3


def test_a_full_run_starts_a_new_report(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "suite_names", lambda: ["la311"])
    bench.main([])
    report = json.loads((results / "latest.json").read_text())
    assert report["started_at"] > "2026-12-06T23:24:23+00:00"
    assert report["updates"] == [] and report["errors"] == {}
    assert "e2e_cases_per_s" in report and report["e2e_cases_per_s"] is None  # not measured
    assert report["notes"] == ["la311 ran again"]
    assert len(report["machine"]["load_avg_at_end"]) == 3


def test_capacity_says_which_figures_a_later_partial_run_measured(results: Path) -> None:
    from bench.capacity import _updates

    bench.main(["la311"])
    report = json.loads((results / "latest.json").read_text())
    [line] = _updates(report)
    assert line.startswith("The figures of la311 are from a later run of those suites alone (")
    assert _updates(full_report()) == []
