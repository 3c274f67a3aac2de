"""Run the benchmark suites and write bench/results/latest.json.

`python -m bench` runs every suite in bench/suites/; `python -m bench e2e baselines` runs
the named ones and updates their figures in the existing latest.json. Figures are compared
with baselines measured in the same run, as ratios: these machines are shared and noisy,
so absolute numbers alone mean little.

A suite that fails does not stop the others: its error is recorded under `errors`, and
every required key is still written (null when its suite could not measure it).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil
import platform
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.stack import BenchInfra

RESULTS = Path(__file__).parent / "results"
REQUIRED = ("e2e_cases_per_s", "e2e_p99_ms_at_200", "replay_events_per_s", "case_file_p99_ms",
            "baseline_inprocess_cases_per_s", "baseline_naive_cases_per_s",
            "limit_kafka_msgs_per_s")
# Issue 9's targets on the 2-core machine: (figure, comparison, threshold or other figure).
TARGETS: tuple[tuple[str, str, float | str], ...] = (
    ("e2e_cases_per_s", ">=", 1000.0),
    ("e2e_p99_ms_at_200", "<=", 250.0),
    ("replay_events_per_s", ">=", 50_000.0),
    ("case_file_p99_ms", "<=", 20.0),
    ("e2e_cases_per_s", ">=", "baseline_inprocess_cases_per_s"),
    ("e2e_vs_naive_ratio", ">=", 5.0),
)
# What a report holds besides figures.
META = ("started_at", "machine", "suites", "errors", "targets", "notes", "updates")
# A target's ceiling on this machine, measured in the same run: what a part of the work
# reaches alone, with nothing else done. A bound above it cannot be met here by any sink.
CEILINGS = {"replay_events_per_s": "replay_parse_events_per_s"}  # read + parsed, no apply
# Run first what others compare against; then the rest alphabetically.
FIRST = ("baselines", "e2e")


@dataclass
class BenchContext:
    """What suites share: a scratch directory, notes, and the broker/database/services."""

    scratch: Path
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # what earlier suites measured
    _infra: BenchInfra | None = None

    def infra(self) -> BenchInfra:
        """The bench's own Kafka and PostgreSQL, started on first use, cleaned at the end."""
        if self._infra is None:
            self._infra = BenchInfra(self.scratch)
            self._infra.start()
        return self._infra

    def close(self) -> None:
        if self._infra is not None:
            self._infra.close()


def suite_names() -> list[str]:
    import bench.suites as pkg

    found = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__))
    return [n for n in FIRST if n in found] + [n for n in found if n not in FIRST]


def main(argv: list[str]) -> int:
    # SIGTERM unwinds like Ctrl-C, so the services, broker and database are still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = argv or suite_names()
    RESULTS.mkdir(parents=True, exist_ok=True)
    scratch = RESULTS / "scratch"
    # Fresh each run: a suite's embedded stores kept from the last run hold tracking rows
    # at the offsets this run feeds again, and would record nothing (supervision did).
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    ctx = BenchContext(scratch=scratch)
    run: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(),
                           "load_avg_at_start": os.getloadavg()}
    report = _report_to_fill(names, bool(argv), run)
    ctx.figures.update({k: v for k, v in report.items() if k not in META})
    try:
        for name in names:
            _run_suite(name, ctx, report)
    finally:
        ctx.close()
    report.update(ctx.figures)
    for key in REQUIRED:
        report.setdefault(key, None)
    _derive(report)
    run["load_avg_at_end"] = os.getloadavg()
    if argv:
        report["updates"].append({**run, "suites": names})
    else:
        report["machine"]["load_avg_at_end"] = run["load_avg_at_end"]
    report["notes"] += ctx.notes
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    _print(report)
    return 1 if report["errors"] else 0


def _report_to_fill(names: list[str], partial: bool, run: dict[str, Any]) -> dict[str, Any]:
    """A full run starts a new report. Named suites update the last one: its date and
    machine stay its own, the partial run is listed under `updates` with its own."""
    fresh: dict[str, Any] = {
        "started_at": run["started_at"], "errors": {}, "suites": {}, "notes": [], "updates": [],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_at_start": run["load_avg_at_start"]}}
    path = RESULTS / "latest.json"
    if not partial or not path.exists():
        return fresh
    report = {**fresh, **json.loads(path.read_text())}
    report["errors"] = {k: v for k, v in report["errors"].items() if k not in names}
    return report


def _run_suite(name: str, ctx: BenchContext, report: dict[str, Any]) -> None:
    began = time.perf_counter()
    Console().print(f"[bold]bench suite {name}[/bold] …")
    try:
        module = importlib.import_module(f"bench.suites.{name}")
        figures = module.run(ctx)
        ctx.figures.update(figures)
        Console().print_json(json.dumps(figures, ensure_ascii=False, default=str))
    except Exception as exc:  # noqa: BLE001 - one failed suite must not lose the others' figures
        report["errors"][name] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    report["suites"][name] = {"seconds": round(time.perf_counter() - began, 2)}


def _derive(report: dict[str, Any]) -> None:
    """Ratios against the baselines of this same run, and the issue's targets."""
    e2e = report.get("e2e_cases_per_s")
    for base in ("baseline_inprocess_cases_per_s", "baseline_naive_cases_per_s"):
        ratio_key = "e2e_vs_inprocess_ratio" if "inprocess" in base else "e2e_vs_naive_ratio"
        b = report.get(base)
        report[ratio_key] = round(e2e / b, 2) if e2e and b else None
    report["targets"] = {f"{f} {op} {t}": _check(report, f, op, t) for f, op, t in TARGETS}


def _check(report: dict[str, Any], figure: str, op: str, target: float | str) -> dict[str, Any]:
    measured = report.get(figure)
    bound = report.get(target) if isinstance(target, str) else target
    if not isinstance(measured, int | float) or not isinstance(bound, int | float) or (
        isinstance(measured, float) and math.isnan(measured)
    ):
        return {"measured": measured, "target": bound, "met": None}
    out: dict[str, Any] = {"measured": measured, "target": bound,
                           "met": _holds(measured, op, bound),
                           "measured_over_target": round(measured / bound, 3) if bound else None}
    ceiling = report.get(CEILINGS.get(figure, ""))
    if isinstance(ceiling, int | float):
        out.update(ceiling=ceiling, ceiling_figure=CEILINGS[figure],
                   reachable_here=_holds(ceiling, op, bound))
    return out


def _holds(value: float, op: str, bound: float) -> bool:
    return value >= bound if op == ">=" else value <= bound


def _print(report: dict[str, Any]) -> None:
    table = Table(title="make bench → bench/results/latest.json")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if key not in META and not isinstance(value, dict | list):
            table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    console = Console()
    console.print(table)
    targets = Table(title="targets (issue 9), measured in this run")
    for col in ("target", "measured", "bound", "met", "ceiling here"):
        targets.add_column(col)
    for name, c in report["targets"].items():
        targets.add_row(name, str(c["measured"]), str(c["target"]), str(c["met"]),
                        str(c.get("ceiling", "")))
    console.print(targets)
    for name, error in report["errors"].items():
        console.print(f"[red]suite {name} failed[/red]: {error}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
