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

from bench.stack import BenchInfra, Watch, percentile
from govctl.processes import REPO
from shared.places.la311 import APCS, district_code

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
    for speed in SPEEDS:
        figures.update(replay.paced(replay.busiest(WALL_SECONDS * speed), speed))
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
    # Area overrides are per district (dispatch refuses a city code): one copy per district.
    districts = sorted({f"{LA_CITY[:4]}{code}" for code, _ in APCS.values()})
    rules = [{**r, "area": d} for d in districts for r in la["rules"]]
    body = {"rules": [*current["rules"], *rules], "note": la["note"][:500],
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

    def busiest(self, span: float) -> list[tuple[float, Any, dict[str, str]]]:
        """The not yet replayed rows of the busiest `span` seconds of the sample."""
        rows = [r for r in self.rows if str(r[1].report_id) not in self.sent]
        best, lo = (0, 0), 0
        for hi in range(len(rows)):
            while rows[hi][0] - rows[lo][0] > span:
                lo += 1
            best = max(best, (hi - lo + 1, lo))
        return rows[best[1]:best[1] + best[0]]

    def paced(self, batch: list[tuple[float, Any, dict[str, str]]],
              speed: int) -> dict[str, Any]:
        watch = Watch(self.infra.database_url, timeout=300 + WALL_SECONDS)
        asyncio.run(self._submit_on_schedule(batch, speed, watch.wanted))
        submitted = dict(watch.wanted)
        seen = watch.result()
        latencies = [(seen[c][1] - t) * 1000 for c, t in submitted.items() if c in seen]
        key = f"la311_{speed}x"
        return {f"{key}_rows": len(batch),
                f"{key}_offered_rows_per_s": round(len(batch) / WALL_SECONDS, 2),
                f"{key}_lost": len(submitted) - len(seen),
                f"{key}_visible_p50_ms": percentile(latencies, 50),
                f"{key}_visible_p99_ms": percentile(latencies, 99)}

    async def _submit_on_schedule(self, batch: list[tuple[float, Any, dict[str, str]]],
                                  speed: int, submitted: dict[str, float]) -> None:
        """Each row leaves when its CreatedDate, sped up, comes due; rows due together
        go in one transaction. Each goes into `submitted` (id -> when) once recorded."""
        if not batch:
            return
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

    def flat_out(self) -> dict[str, Any]:
        rest = [r for r in self.rows if str(r[1].report_id) not in self.sent]
        began = time.perf_counter()
        for lo in range(0, len(rest), 500):
            self.app.receive_many([d for _, d, _ in rest[lo:lo + 500]])
        recorded = time.perf_counter() - began
        watch = Watch(self.infra.database_url, timeout=900, every=0.05)
        watch.wanted.update({str(d.report_id): 0.0 for _, d, _ in rest})
        seen = watch.result()
        elapsed = time.perf_counter() - began
        self.sent |= set(watch.wanted)
        return {"la311_flat_out_rows": len(rest),
                "la311_intake_rows_per_s": round(len(rest) / recorded, 1),
                "la311_end_to_end_rows_per_s": round(len(seen) / elapsed, 1)}

    def check(self) -> dict[str, Any]:
        return {**self._routing(), **self._counts()}

    def _routing(self) -> dict[str, Any]:
        """Our dispatch's department vs the mapping of the row's real Owner, over the rows
        dispatch routed themselves (their own case dispatched). Rows dedup merged into
        another case, or held for review, were not routed: counted apart."""
        expected = {str(d.report_id): self.mapping.departments.get(row["Owner"].strip())
                    for _, d, row in self.rows}
        with psycopg.connect(self.infra.database_url, autocommit=True) as c:
            cases: dict[str, tuple[str, str | None]] = {
                cid: (status, dept) for cid, status, dept in c.execute(
                    "SELECT case_id, status, department FROM projections.rm_cases "
                    "WHERE area_path LIKE %s", (f"{LA_CITY}%",)).fetchall()}
            merged = {r for (r,) in c.execute(
                "SELECT report_case_id FROM projections.rm_case_aliases").fetchall()}
        routed = {rid: cases[rid][1] for rid in expected
                  if rid in cases and cases[rid][1] is not None}
        agree = sum(1 for rid, dept in routed.items() if dept == expected[rid])
        misses = Counter(f"{expected[r]}->{d}" for r, d in routed.items() if d != expected[r])
        # The LA list itself against the file, computed here without the platform.
        listed = {r["category"]: r["department"] for r in json.loads(RULES.read_text())["rules"]}
        offline = sum(1 for _, d, row in self.rows
                      if listed.get(d.category) == expected[str(d.report_id)])
        held = Counter(cases[r][0] for r in expected if r in cases and r not in routed)
        return {"la311_rows_routed": len(routed),
                "la311_rows_merged": len(merged & set(expected)),
                "la311_rows_not_routed_by_status": dict(held),
                "la311_routing_agreement": round(agree / max(len(routed), 1), 4),
                "la311_routing_disagreements": dict(misses.most_common(8)),
                "la311_list_agreement_offline": round(offline / len(self.rows), 4)}

    def _counts(self) -> dict[str, Any]:
        """Reports per district: the read model (sum of report_count: merged reports too)
        against the file, counted by its APC column, and by its coordinates (placed with
        the same registry intake uses; the APC column when a row has no usable point)."""
        by_apc = Counter(district_code(row["APC"]) or LA_CITY for _, _, row in self.rows)
        by_point = Counter(self._district_of(d, row) for _, d, row in self.rows)
        with psycopg.connect(self.infra.database_url, autocommit=True) as c:
            rows = c.execute(
                "SELECT split_part(area_path, '/', 2), sum(report_count) "
                "FROM projections.rm_cases WHERE area_path LIKE %s GROUP BY 1",
                (f"{LA_CITY}%",)).fetchall()
        model = Counter({(d or LA_CITY): int(n) for d, n in rows})
        return {"la311_areas": len(by_apc),
                "la311_counts_equal": model == by_apc,
                "la311_count_differences": _differences(by_apc, model),
                "la311_counts_equal_by_coordinates": model == by_point,
                "la311_count_differences_by_coordinates": _differences(by_point, model),
                "la311_rows_point_outside_apc_district": sum(
                    1 for _, d, row in self.rows
                    if self._district_of(d, row) != (district_code(row["APC"]) or LA_CITY))}

    def _district_of(self, draft: Any, row: dict[str, str]) -> str:
        where = (self.app.registry.locate(draft.location.lon, draft.location.lat)
                 if draft.location is not None else None)
        if where is not None and len(where.area_path) > 1:
            return str(where.area_path[1])
        return district_code(row["APC"]) or LA_CITY


def _differences(expected: Counter[str], found: Counter[str]) -> dict[str, list[int]]:
    """area -> [from the file, in the read model], where they differ."""
    return {a: [expected[a], found[a]] for a in sorted(set(expected) | set(found))
            if expected[a] != found[a]}
