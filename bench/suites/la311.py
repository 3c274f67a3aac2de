"""Real-data replay: the Los Angeles 311 sample (../shared/data) through intake, with the
intake service's own importer pieces (`data/la311/mapping.toml`, `RowReader`,
`IntakeApplication.receive_many`, the store the running intake service relays from), and
through the whole running platform to the projections read model.

- paced: two slices of the sample at 10x and at 100x real time (rows leave when their
  CreatedDate, sped up, comes due); per-row latency to visible in the read model. The
  whole sample spans 4 days 10 hours: 10x would take 10.6 hours, 100x 64 minutes, so each
  speed replays a slice worth BENCH_LA_SECONDS of wall time;
- the rest of the file as fast as intake takes it (batches of 500, as the importer does);
- checks on every row: the department our dispatch chose agrees with the mapping of the
  row's real `Owner` (target >= 99 %), and the reports counted per district in the read
  model equal those counted straight from the file (its APC column).

Our routing is dispatch's responsibility list; LA's rules (bench/la311/responsibility.json,
area 990100) are loaded through dispatch's API first. If dispatch refuses them, the
refusal is recorded and the agreement is measured on whatever dispatch decided.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.stack import BenchInfra, percentile
from govctl.processes import REPO

SAMPLE = REPO.parent / "shared" / "data" / "la311_2017_sample.csv"
MAPPING = REPO / "data" / "la311" / "mapping.toml"
RULES = Path(__file__).parent.parent / "la311" / "responsibility.json"
SPEEDS = (100, 10)
WALL_SECONDS = float(os.environ.get("BENCH_LA_SECONDS", "40"))
LA_CITY = "990100"


def run(ctx: Any) -> dict[str, Any]:
    infra: BenchInfra = ctx.infra()
    infra.reset()
    infra.start_services()
    figures: dict[str, Any] = {"la311_rules": load_rules(infra)}
    replay = Replay(infra)
    figures["la311_rows"] = len(replay.rows)
    figures["la311_bad_rows"] = replay.bad
    end = replay.rows[-1][0]
    for speed in SPEEDS:  # consecutive slices, newest first
        span = WALL_SECONDS * speed
        batch = [r for r in replay.rows if end - span < r[0] <= end]
        end -= span
        figures.update(replay.paced(batch, speed))
    figures.update(replay.flat_out())
    figures.update(replay.check())
    replay.close()
    infra.stop_services()
    ctx.notes.append(f"la311: {SPEEDS} x real time on slices of {WALL_SECONDS:.0f} s wall "
                     "each (the full sample would take 10.6 h at 10x); the rest flat out.")
    return figures


def load_rules(infra: BenchInfra) -> str:
    """Add LA's rules to dispatch's responsibility list; 'loaded' or dispatch's refusal."""
    assert infra.stack is not None
    admin = {"Authorization": f"Bearer {infra.token('administrator', 'bench-admin')}"}
    url = f"{infra.stack.url('dispatch')}/api/responsibility-list"
    current = httpx.get(url, headers=admin, timeout=30).json()
    la = json.loads(RULES.read_text())
    body = {"rules": [*current["rules"], *la["rules"]], "note": la["note"][:500],
            "based_on": current.get("version")}
    r = httpx.put(url, json=body, headers=admin, timeout=30)
    if r.status_code == 200:
        return "loaded"
    return f"refused {r.status_code}: " + "; ".join(
        d.get("msg", "") for d in r.json().get("detail", []))[:600]


class Replay:
    def __init__(self, infra: BenchInfra) -> None:
        from services.intake.application import IntakeApplication
        from services.intake.importer import BadRow, Mapping, RowReader, rows_of
        from services.intake.placement import combined_registry, registry_files
        from services.intake.settings import IntakeSettings

        self.infra = infra
        self.mapping = Mapping.load(MAPPING)
        settings = IntakeSettings(service_name="intake", database_url=infra.database_url,
                                  kafka_bootstrap_servers=infra.bootstrap,
                                  data_dir=infra.scratch / "services")
        files = registry_files(settings) + ((str(self.mapping.registry),)
                                            if self.mapping.registry else ())
        self.app = IntakeApplication(settings, combined_registry(tuple(dict.fromkeys(files))))
        reader = RowReader(self.mapping, self.app.registry)
        # (created, draft, row) in time order; bad rows are counted, as the importer does.
        self.rows: list[tuple[float, Any, dict[str, str]]] = []
        self.bad = 0
        fmt = self.mapping.datetime_format
        for _, row in rows_of(SAMPLE, self.mapping):
            try:
                draft = reader.draft(row)
            except BadRow:
                self.bad += 1
                continue
            created = datetime.strptime(row["CreatedDate"], fmt).timestamp()
            self.rows.append((created, draft, row))
        self.rows.sort(key=lambda r: r[0])
        self.sent: set[str] = set()

    def close(self) -> None:
        self.app.close()

    def paced(self, batch: list[tuple[float, Any, dict[str, str]]],
              speed: int) -> dict[str, Any]:
        submitted = asyncio.run(self._submit_on_schedule(batch, speed))
        seen = self._visible(submitted, timeout=300)
        latencies = [(seen[c] - t) * 1000 for c, t in submitted.items() if c in seen]
        key = f"la311_{speed}x"
        return {f"{key}_rows": len(batch),
                f"{key}_offered_rows_per_s": round(len(batch) / WALL_SECONDS, 2),
                f"{key}_lost": len(submitted) - len(seen),
                f"{key}_visible_p50_ms": percentile(latencies, 50),
                f"{key}_visible_p99_ms": percentile(latencies, 99)}

    async def _submit_on_schedule(self, batch: list[tuple[float, Any, dict[str, str]]],
                                  speed: int) -> dict[str, float]:
        """Each row leaves when its CreatedDate, sped up, comes due; rows due together
        go in one transaction."""
        submitted: dict[str, float] = {}
        if not batch:
            return submitted
        origin, start = batch[0][0], time.perf_counter()
        i = 0
        while i < len(batch):
            due = [r for r in batch[i:] if (r[0] - origin) / speed <=
                   time.perf_counter() - start]
            if not due:
                await asyncio.sleep(max(0.0, (batch[i][0] - origin) / speed
                                        - (time.perf_counter() - start)))
                continue
            await asyncio.to_thread(self.app.receive_many, [d for _, d, _ in due])
            now = time.time()
            for _, d, _ in due:
                submitted[str(d.report_id)] = now
            i += len(due)
        self.sent |= set(submitted)
        return submitted

    def flat_out(self) -> dict[str, Any]:
        rest = [r for r in self.rows if str(r[1].report_id) not in self.sent]
        began = time.perf_counter()
        for lo in range(0, len(rest), 500):
            self.app.receive_many([d for _, d, _ in rest[lo:lo + 500]])
        recorded = time.perf_counter() - began
        ids = {str(d.report_id): 0.0 for _, d, _ in rest}
        seen = self._visible(ids, timeout=900)
        elapsed = time.perf_counter() - began
        self.sent |= set(ids)
        return {"la311_flat_out_rows": len(rest),
                "la311_intake_rows_per_s": round(len(rest) / recorded, 1),
                "la311_end_to_end_rows_per_s": round(len(seen) / elapsed, 1)}

    def _visible(self, ids: dict[str, float], timeout: float) -> dict[str, float]:
        """report id -> when the read model first showed it (a case, or merged into one)."""
        pending, seen = set(ids), {}
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.infra.database_url, autocommit=True) as c:
            while pending and time.monotonic() < deadline:
                rows = c.execute(
                    "SELECT case_id FROM projections.rm_cases WHERE case_id = ANY(%(ids)s) "
                    "UNION SELECT report_case_id FROM projections.rm_case_aliases "
                    "WHERE report_case_id = ANY(%(ids)s)", {"ids": list(pending)}).fetchall()
                now = time.time()
                for (case_id,) in rows:
                    seen[case_id] = now
                    pending.discard(case_id)
                time.sleep(0.05)
        return seen

    def check(self) -> dict[str, Any]:
        return {**self._routing(), **self._counts()}

    def _routing(self) -> dict[str, Any]:
        """Our dispatch's department for each row's case vs the mapping of its real Owner."""
        expected = {str(d.report_id): self.mapping.departments.get(row["Owner"].strip())
                    for _, d, row in self.rows}
        with psycopg.connect(self.infra.database_url, autocommit=True) as c:
            department: dict[str, str | None] = dict(c.execute(
                "SELECT case_id, department FROM projections.rm_cases WHERE area_path LIKE %s",
                (f"{LA_CITY}%",)).fetchall())
            merged: dict[str, str] = dict(c.execute(
                "SELECT report_case_id, case_id FROM projections.rm_case_aliases").fetchall())
        chosen = {rid: department.get(merged.get(rid, rid)) for rid in expected}
        agree = sum(1 for rid, dept in expected.items() if dept is not None and chosen[rid] == dept)
        misses = Counter(f"{expected[r]}->{chosen[r]}" for r in expected
                         if chosen[r] != expected[r])
        # The LA list itself against the file, computed here without the platform: what
        # dispatch would reach once it accepts the list.
        listed = {r["category"]: r["department"] for r in json.loads(RULES.read_text())["rules"]}
        offline = sum(1 for _, d, row in self.rows
                      if listed.get(d.category) == expected[str(d.report_id)])
        return {"la311_routing_agreement": round(agree / len(expected), 4),
                "la311_routing_disagreements": dict(misses.most_common(8)),
                "la311_list_agreement_offline": round(offline / len(self.rows), 4)}

    def _counts(self) -> dict[str, Any]:
        """Reports per district: read model (sum of report_count) vs the file's APC column."""
        from shared.places.la311 import district_code

        from_file = Counter(district_code(row["APC"]) or LA_CITY for _, _, row in self.rows)
        with psycopg.connect(self.infra.database_url, autocommit=True) as c:
            rows = c.execute(
                "SELECT split_part(area_path, '/', 2), sum(report_count) "
                "FROM projections.rm_cases WHERE area_path LIKE %s GROUP BY 1",
                (f"{LA_CITY}%",)).fetchall()
        from_model = {(d or LA_CITY): int(n) for d, n in rows}
        differ = {d: (from_file.get(d, 0), from_model.get(d, 0))
                  for d in set(from_file) | set(from_model)
                  if from_file.get(d, 0) != from_model.get(d, 0)}
        return {"la311_areas": len(from_file), "la311_counts_equal": not differ,
                "la311_count_differences": differ}
