"""The shipped Los Angeles registry and the `load` command of the place CLI."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from shared.places import PlaceRegistry, validate
from shared.places.cli import app as places_cli
from shared.places.demo import build_demo
from shared.places.la311 import build_la_registry, hierarchy_code, read_rows
from shared.places.model import Level
from shared.places.registry import save_registry

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "data" / "la311_2017_sample.csv"
SHIPPED = REPO / "data" / "la311" / "registry.geojson"


def test_the_shipped_la_registry_is_what_the_builder_makes_and_it_validates() -> None:
    built = build_la_registry(read_rows(SAMPLE))
    shipped = PlaceRegistry.load(SHIPPED)
    assert [p.code for p in built.places] == [p.code for p in shipped]
    report = validate(shipped)
    assert report.ok, report.render_text("en")[:2000]
    assert shipped.counts()[Level.GRID] > 200


def test_every_sample_point_lies_in_a_grid_and_codes_follow_the_scheme() -> None:
    registry = PlaceRegistry.load(SHIPPED)
    rows = list(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    located = 0
    for r in rows:
        if r["Latitude"] and r["Longitude"]:
            loc = registry.locate(float(r["Longitude"]), float(r["Latitude"]))
            assert loc is not None, r["SRNumber"]
            assert loc.area_path[0] == "990100" and len(loc.area_path) == 5
            located += 1
        code = hierarchy_code(r["APC"], r["CD"], r["NC"])
        if code is not None:
            assert code.startswith("9901") and len(code) in (6, 9, 12)
    assert located == sum(1 for r in rows if r["Latitude"])


def test_load_installs_only_a_clean_registry(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "small.geojson"
    save_registry(build_demo(small=True), good)
    into = tmp_path / "places"
    ok = runner.invoke(places_cli, ["load", str(good), "--into", str(into)])
    assert ok.exit_code == 0, ok.output
    assert (into / "350300.geojson").exists()
    broken = build_demo(small=True)
    grids = [p for p in broken.places if p.level is Level.GRID]
    overlapping = broken.model_copy(update={"places": tuple(
        p.model_copy(update={"geometry": grids[0].geometry}) if p.code == grids[1].code else p
        for p in broken.places)})
    bad = tmp_path / "bad.geojson"
    save_registry(overlapping, bad)
    refused = runner.invoke(places_cli, ["load", str(bad), "--into", str(tmp_path / "other")])
    assert refused.exit_code == 1 and "overlap" in refused.output
    assert not (tmp_path / "other" / "350300.geojson").exists()
