"""Run the benchmark suites and write bench/results/latest.json.

`python -m bench` runs every suite in bench/suites/; `python -m bench intake dedup` runs
the named ones. Figures are compared with baselines measured in the same run, as ratios:
these machines are shared and noisy, so absolute numbers alone mean little.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


@dataclass
class BenchContext:
    """What suites share: a scratch directory and a place for notes."""

    scratch: Path
    notes: list[str] = field(default_factory=list)


def suite_names() -> list[str]:
    import bench.suites as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__))


def main(argv: list[str]) -> int:
    names = argv or suite_names()
    RESULTS.mkdir(parents=True, exist_ok=True)
    scratch = RESULTS / "scratch"
    scratch.mkdir(exist_ok=True)
    ctx = BenchContext(scratch=scratch)
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(),
                              "machine": {"python": platform.python_version(),
                                          "cpus": __import__("os").cpu_count()},
                              "suites": {}}
    for name in names:
        module = importlib.import_module(f"bench.suites.{name}")
        began = time.perf_counter()
        figures = module.run(ctx)
        report["suites"][name] = {"seconds": round(time.perf_counter() - began, 2)}
        report.update(figures)
    report["notes"] = ctx.notes
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    _print(report)
    return 0


def _print(report: dict[str, Any]) -> None:
    table = Table(title="make bench → bench/results/latest.json")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if key not in ("suites", "machine", "notes", "started_at"):
            table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
