"""Command line: python -m shared.places validate|load|demo|locate|stats|la311."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from .demo import build_demo
from .model import Level, Registry
from .registry import DEFAULT_UNIT_RADIUS_M, PlaceRegistry, load_registry, save_registry
from .validate import DEFAULT_TOLERANCE_M2, ValidationReport, validate

app = typer.Typer(
    help="Six-level place registry (市/县区/镇街/村社区/网格/单元) tools.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON registry")]


def _read(path: Path) -> Registry:
    try:
        return load_registry(path)
    except (ValueError, ValidationError) as exc:  # json and pydantic errors alike
        console.print(f"[red]cannot read {path} / 无法读取：[/red] {exc}")
        raise typer.Exit(2) from exc


def _registry(path: Path) -> PlaceRegistry:
    registry = _read(path)
    try:
        return PlaceRegistry.from_registry(registry)
    except ValueError as exc:  # duplicate codes
        console.print(f"[red]{exc}[/red] — run `validate` for the full report")
        raise typer.Exit(2) from exc


@app.command("validate")
def validate_cmd(
    file: FileArg,
    tolerance: Annotated[float, typer.Option(help="ignore slivers below this many m²")] = (
        DEFAULT_TOLERANCE_M2
    ),
) -> None:
    """Check codes, nesting and geometry (不重叠、无死角); exit 1 when issues are found."""
    report = validate(_read(file), tolerance_m2=tolerance)
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: ValidationReport) -> None:
    if report.issues:
        table = Table(title="校验问题 / Validation issues", show_lines=False)
        for col in ("kind", "codes", "m²", "问题 / issue"):
            table.add_column(col, overflow="fold")
        for i in report.issues:
            area = "" if i.area_m2 is None else f"{i.area_m2:,.1f}"
            table.add_row(i.kind.value, "\n".join(i.codes), area,
                          f"{i.message_zh}\n[dim]{i.message_en}[/dim]")
        console.print(table)
    style = "green" if report.ok else "red"
    console.print(f"[{style}]{report.summary()}[/{style}]")


@app.command()
def demo(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="file to write")],
    small: Annotated[bool, typer.Option("--small", help="1 district, 1 town, 4 grids")] = False,
    detail: Annotated[int, typer.Option(min=1, max=5, help="grid density multiplier")] = 1,
) -> None:
    """Write the deterministic demo city 莆阳市 (Puyang)."""
    registry = build_demo(small=small, detail=detail)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_registry(registry, out)
    console.print(f"wrote {len(registry.places)} places to {out}")


@app.command()
def locate(
    file: FileArg,
    lon: Annotated[float, typer.Argument(help="longitude")],
    lat: Annotated[float, typer.Argument(help="latitude")],
    radius: Annotated[float, typer.Option(help="max metres to the nearest unit")] = (
        DEFAULT_UNIT_RADIUS_M
    ),
) -> None:
    """Print the area path of the grid (and unit) at LON LAT; exit 1 outside every grid."""
    registry = _registry(file)
    loc = registry.locate(lon, lat, unit_radius_m=radius)
    if loc is None:
        console.print(f"({lon}, {lat}) is outside every grid / 不在任何网格内，需人工定位")
        raise typer.Exit(1)
    console.print(loc.area_path_str, markup=False, highlight=False)
    names = " › ".join(registry[c].name_zh for c in loc.area_path)
    note = "" if loc.unit_distance_m is None else f" ({loc.unit_distance_m:.0f} m)"
    console.print(names + note, markup=False, highlight=False)


@app.command()
def stats(file: FileArg) -> None:
    """Count places per level."""
    counts = _registry(file).counts()
    table = Table("level", "层级", "count")
    for level in Level:
        table.add_row(level.value, level.name_zh, str(counts[level]))
    table.add_row("total", "合计", str(sum(counts.values())))
    console.print(table)


@app.command()
def load(
    file: FileArg,
    into: Annotated[Path | None, typer.Option(
        help="registry folder intake reads at start (default: $GOV_DATA_DIR/places)")] = None,
    tolerance: Annotated[float, typer.Option(help="ignore slivers below this many m²")] = (
        DEFAULT_TOLERANCE_M2
    ),
) -> None:
    """Validate a registry and, only if it is clean, install it for intake (one file per
    city; a reload replaces that city's places). Restart intake to use it."""
    registry = _read(file)
    report = validate(registry, tolerance_m2=tolerance)
    _print_report(report)
    if not report.ok:
        console.print("[red]not loaded / 未加载[/red]")
        raise typer.Exit(1)
    cities = PlaceRegistry.from_registry(registry).by_level(Level.CITY)
    if len(cities) != 1:
        console.print(f"[red]a registry file holds exactly one city, found {len(cities)}[/red]")
        raise typer.Exit(1)
    folder = into or Path(os.environ.get("GOV_DATA_DIR", "var")) / "places"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{cities[0].code}.geojson"
    tmp = target.with_suffix(".part")
    save_registry(registry, tmp)
    tmp.replace(target)
    console.print(f"loaded {len(registry.places)} places of {cities[0].name_zh} into {target}")


@app.command()
def la311(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                             help="LA 311 service requests CSV")],
    out: Annotated[Path, typer.Argument(dir_okay=False, help="registry file to write")],
) -> None:
    """Build the Los Angeles registry (APC → CD → NC → 0.01° grids) from 311 records."""
    from .la311 import build_la_registry, read_rows

    registry = build_la_registry(read_rows(csv_file))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_registry(registry, out)
    counts = PlaceRegistry.from_registry(registry).counts()
    console.print(f"wrote {len(registry.places)} places to {out}: "
                  + ", ".join(f"{lvl.value} {n}" for lvl, n in counts.items()))
