"""Bulk import of historical requests from CSV (历史工单导入).

    python -m services.intake.importer FILE --mapping data/la311/mapping.toml

A mapping file (TOML) says which column is which field, which source category is which
of ours, and which owner is which department. Every row becomes one report, recorded in
intake's store in batches (one transaction each) and relayed from there like any other;
a row that cannot be used is written to the import report with the reason, and the good
rows go on. Idempotent: a row's report id is uuid5(import, prefix + its reference), so
importing a file again records nothing. Resumable: a checkpoint after every batch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from services.intake.application import IntakeApplication
from services.intake.channels import REF, Draft
from services.intake.placement import combined_registry, registry_files
from services.intake.settings import IntakeSettings
from shared.catalogue import categories, departments
from shared.events import Actor, Channel, Location
from shared.pii import redact
from shared.places.la311 import hierarchy_code
from shared.places.registry import PlaceRegistry

REQUIRED_COLUMNS = ("external_ref", "reported_at", "category")


class MappingError(ValueError):
    pass


@dataclass(frozen=True)
class Mapping:
    path: Path
    name: str
    ref_prefix: str
    city: str
    registry: Path | None
    tz: ZoneInfo
    datetime_format: str
    columns: dict[str, str]
    hierarchy: dict[str, str]
    details: dict[str, str]
    categories: dict[str, str]
    departments: dict[str, str]
    new_categories: dict[str, dict[str, str]] = field(default_factory=dict)
    new_departments: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Mapping:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            src = raw["source"]
            reg = src.get("registry")
            m = cls(path=path, name=src.get("name", path.stem),
                    ref_prefix=src.get("ref_prefix", ""),
                    city=src["city"], registry=(path.parent / reg) if reg else None,
                    tz=ZoneInfo(src.get("timezone", "UTC")),
                    datetime_format=src.get("datetime_format", "%Y-%m-%dT%H:%M:%S"),
                    columns=dict(raw["columns"]), hierarchy=dict(raw.get("hierarchy", {})),
                    details=dict(raw.get("details", {})), categories=dict(raw["categories"]),
                    departments=dict(raw.get("departments", {})),
                    new_categories=dict(raw.get("new_categories", {})),
                    new_departments=dict(raw.get("new_departments", {})))
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
            raise MappingError(f"{path}: {type(exc).__name__}: {exc}") from None
        m.check()
        return m

    def check(self) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.columns]
        if missing:
            raise MappingError(f"[columns] must name {', '.join(missing)}")
        known = set(categories()) | set(self.new_categories)
        wrong = sorted({v for v in self.categories.values() if v not in known})
        if wrong:
            raise MappingError(f"[categories] targets not in the catalogue nor "
                               f"[new_categories]: {', '.join(wrong)}")
        depts = set(departments()) | set(self.new_departments)
        wrong = sorted({v for v in self.departments.values() if v not in depts})
        if wrong:
            raise MappingError(f"[departments] targets unknown: {', '.join(wrong)}")
        if self.registry is not None and not self.registry.exists():
            raise MappingError(f"registry {self.registry} does not exist")

    def check_header(self, header: list[str]) -> None:
        named = [*self.columns.values(), *self.hierarchy.values(), *self.details.values()]
        absent = sorted({c for c in named if c not in header})
        if absent:
            raise MappingError(f"columns not in the file: {', '.join(absent)}")


class BadRow(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


IMPORTER = Actor(id="importer", role="service", name="历史工单导入")


class RowReader:
    """One CSV row -> a Draft, or BadRow naming the column and why."""

    def __init__(self, mapping: Mapping, registry: PlaceRegistry) -> None:
        self.m = mapping
        self.registry = registry

    def _get(self, row: dict[str, str], name: str) -> str:
        column = self.m.columns.get(name)
        return (row.get(column) or "").strip() if column else ""

    def draft(self, row: dict[str, str]) -> Draft:
        m = self.m
        ref = self._get(row, "external_ref")
        if not ref:
            raise BadRow(m.columns["external_ref"], "empty reference")
        ref = m.ref_prefix + ref
        if not re.fullmatch(REF, ref):
            raise BadRow(m.columns["external_ref"], "reference has characters outside "
                                                    "letters, digits and _-./:")
        source_category = self._get(row, "category")
        category = m.categories.get(source_category)
        if category is None:
            raise BadRow(m.columns["category"],
                         f"{source_category[:60]!r} is not in the mapping's [categories]")
        owner = self._get(row, "department")
        department = m.departments.get(owner) if owner else None
        if owner and department is None:
            raise BadRow(m.columns.get("department", "?"),
                         f"{owner[:30]!r} is not in the mapping's [departments]")
        location = self._location(row)
        address = redact(self._get(row, "address"))[:300]
        description = f"{source_category}" + (f" · {address}" if address else "")
        return Draft(
            channel=Channel.IMPORT, external_ref=ref, category=category,
            description=description, reported_at=self._when(row), reporter=IMPORTER,
            title=source_category[:200], location=location,
            unit_code=self._fallback_place(row, location), address=address,
            source_category=source_category[:200], assigned_department=department,
            channel_details={k: (row.get(c) or "").strip()[:64] for k, c in m.details.items()
                             if (row.get(c) or "").strip()},
            city=m.city)

    def _when(self, row: dict[str, str]) -> datetime:
        raw = self._get(row, "reported_at")
        try:
            return datetime.strptime(raw, self.m.datetime_format).replace(tzinfo=self.m.tz)
        except ValueError:
            raise BadRow(self.m.columns["reported_at"],
                         f"not a date-time in the form {self.m.datetime_format}") from None

    def _location(self, row: dict[str, str]) -> Location | None:
        lat, lon = self._get(row, "latitude"), self._get(row, "longitude")
        if not lat and not lon:
            return None
        try:
            return Location(lon=float(lon), lat=float(lat))
        except ValueError:
            raise BadRow(f"{self.m.columns.get('latitude')}/{self.m.columns.get('longitude')}",
                         "not a coordinate pair in decimal degrees") from None

    def _fallback_place(self, row: dict[str, str], location: Location | None) -> str | None:
        """The record's own hierarchy is the source system's attribution and wins (the
        area counts then equal the file's); the point only refines it, to the grid it
        falls in when that grid lies inside the record's place. No hierarchy: the point.
        A code the registry lacks climbs to the nearest existing level, never lost."""
        code = self._record_place(row)
        if location is not None:
            found = self.registry.locate(location.lon, location.lat)
            if found is not None and (code is None or code in found.area_path):
                return None  # placed by the point, inside the record's own place
        return code

    def _record_place(self, row: dict[str, str]) -> str | None:
        h = self.m.hierarchy
        if "place_code" in h:
            code: str | None = (row.get(h["place_code"]) or "").strip() or None
        elif {"apc", "cd", "nc"} <= set(h):
            code = hierarchy_code(row.get(h["apc"], ""), row.get(h["cd"], ""),
                                  row.get(h["nc"], ""))
        else:
            code = None
        while code and code not in self.registry:
            code = code[:-3] if len(code) > 6 else None
        return code


@dataclass
class Tally:
    rows: int = 0
    created: int = 0
    existing: int = 0
    bad: int = 0
    unplaced: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "existing": self.existing,
                "bad": self.bad, "unplaced": self.unplaced, "reasons": dict(self.reasons)}


def fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Checkpoint:
    """Rows done so far for one file (by content hash); written after every batch."""

    def __init__(self, path: Path, file_hash: str) -> None:
        self.path = path
        self.file_hash = file_hash
        self.rows_done = 0
        self.tally = Tally()
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("file_sha256") == file_hash:
                self.rows_done = int(saved["rows_done"])
                t = saved.get("tally", {})
                self.tally = Tally(**{k: t.get(k, 0) for k in
                                      ("rows", "created", "existing", "bad", "unplaced")},
                                   reasons=Counter(t.get("reasons", {})))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".part")
        tmp.write_text(json.dumps({"file_sha256": self.file_hash, "rows_done": self.rows_done,
                                   "tally": self.tally.to_dict()}, indent=1))
        tmp.replace(self.path)


def rows_of(path: Path, mapping: Mapping) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; line 1 is the header."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        mapping.check_header(list(reader.fieldnames or ()))
        for row in reader:
            yield reader.line_num, row


def run_import(file: Path, mapping: Mapping, app: IntakeApplication, *, checkpoint: Checkpoint,
               report: Path, batch: int = 500, limit: int | None = None,
               progress: Progress | None = None) -> Tally:
    reader = RowReader(mapping, app.registry)
    tally = checkpoint.tally
    report.parent.mkdir(parents=True, exist_ok=True)
    fresh_report = checkpoint.rows_done == 0 or not report.exists()
    with report.open("w" if fresh_report else "a", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        if fresh_report:
            writer.writerow(["line", "external_ref", "column", "reason"])
        total = sum(1 for _ in rows_of(file, mapping)) if progress else None
        task = progress.add_task(mapping.name, total=total) if progress else None
        pending: list[tuple[int, Draft]] = []
        done_here = 0
        for index, (line, row) in enumerate(rows_of(file, mapping)):
            if index < checkpoint.rows_done:
                continue
            if limit is not None and done_here >= limit:
                break
            done_here += 1
            try:
                pending.append((line, reader.draft(row)))
            except BadRow as exc:
                ref_col = mapping.columns["external_ref"]
                writer.writerow([line, (row.get(ref_col) or "")[:64], exc.column, exc.reason])
                tally.bad += 1
                tally.reasons[exc.column] += 1
            tally.rows += 1
            if tally.rows - checkpoint.rows_done >= batch:
                _flush(app, pending, tally, checkpoint, out)
                if progress and task is not None:
                    progress.update(task, completed=checkpoint.rows_done)
        _flush(app, pending, tally, checkpoint, out)
        if progress and task is not None:
            progress.update(task, completed=checkpoint.rows_done)
    return tally


def _flush(app: IntakeApplication, pending: list[tuple[int, Draft]], tally: Tally,
           checkpoint: Checkpoint, out: Any) -> None:
    receipts = app.receive_many([d for _, d in pending]) if pending else []
    for r in receipts:
        if r.created:
            tally.created += 1
            tally.unplaced += not r.placed
        else:
            tally.existing += 1
    pending.clear()
    out.flush()  # bad rows are on disk before the checkpoint says they are done
    checkpoint.rows_done = tally.rows
    checkpoint.tally = tally
    checkpoint.save()


# -- command line ----------------------------------------------------------------------------

cli = typer.Typer(add_completion=False, help=__doc__)
console = Console()


@cli.command()
def main(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV to import")],
    mapping: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="mapping TOML")],
    checkpoint: Annotated[Path | None, typer.Option(help="default: <data dir>/import/")] = None,
    report: Annotated[Path | None, typer.Option(help="bad rows CSV; default beside it")] = None,
    batch: Annotated[int, typer.Option(min=1, max=5000, help="rows per transaction")] = 500,
    limit: Annotated[int | None, typer.Option(min=1, help="stop after N rows (resume later)")]
    = None,
    restart: Annotated[bool, typer.Option(help="ignore the checkpoint")] = False,
) -> None:
    """Import FILE into intake's store using the mapping; print the tally."""
    try:
        m = Mapping.load(mapping)
    except MappingError as exc:
        console.print(f"[red]mapping: {exc}[/red]")
        raise typer.Exit(2) from None
    settings = IntakeSettings(service_name="intake")
    files = registry_files(settings) + ((str(m.registry),) if m.registry else ())
    app = IntakeApplication(settings, registry=combined_registry(tuple(dict.fromkeys(files))))
    folder = settings.data_dir / "import"
    cp = Checkpoint(checkpoint or folder / f"{file.stem}.checkpoint.json", fingerprint(file))
    if restart:
        cp.rows_done, cp.tally = 0, Tally()
    out = report or (checkpoint or folder / file.stem).with_suffix(".report.csv")
    if cp.rows_done:
        console.print(f"resuming after {cp.rows_done} rows (checkpoint {cp.path})")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as progress:
            tally = run_import(file, m, app, checkpoint=cp, report=out, batch=batch,
                               limit=limit, progress=progress)
    except MappingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        app.close()
    _summary(tally, out)


def _summary(t: Tally, report: Path) -> None:
    table = Table(title="import / 导入结果")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for what, n in (("read", t.rows), ("new reports", t.created), ("already imported", t.existing),
                    ("  of the new: awaiting manual placement", t.unplaced),
                    ("bad rows (see report)", t.bad)):
        table.add_row(what, str(n))
    for column, n in t.reasons.most_common():
        table.add_row(f"  bad: {column}", str(n))
    console.print(table)
    console.print(f"import report: {report}")
    console.print_json(json.dumps(t.to_dict()))


if __name__ == "__main__":
    cli()
