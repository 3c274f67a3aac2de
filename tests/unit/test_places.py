"""Place registry: demo city, validation (overlaps, gaps, codes), locate, area paths, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shared.places import (
    IssueKind,
    Level,
    Place,
    PlaceRegistry,
    PolygonGeometry,
    Registry,
    build_demo,
    code_area_path,
    load_demo_registry,
    load_registry,
    path_within,
    save_registry,
    validate,
)
from shared.places.cli import app
from shared.places.demo import CITY_BOX, demo_data_path
from shared.places.geo import EARTH_RADIUS_M, distance_m

VILLAGE = "350302001001"
G1, G2, G3, G4 = (f"{VILLAGE}{n:03d}" for n in range(1, 5))
DEMO_GRIDS = load_demo_registry().by_level(Level.GRID)


def sphere_area_m2(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Exact area of a lon/lat rectangle on the sphere: independent of the validator's maths."""
    dlon = math.radians(lon1 - lon0)
    return EARTH_RADIUS_M**2 * dlon * (math.sin(math.radians(lat1)) - math.sin(math.radians(lat0)))


def rect(lon0: float, lat0: float, lon1: float, lat1: float) -> PolygonGeometry:
    ring = ((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0))
    return PolygonGeometry(coordinates=(ring,))


def small_places() -> list[Place]:
    return list(build_demo(small=True).places)


def replace(places: list[Place], code: str, **update: object) -> list[Place]:
    return [p.model_copy(update=update) if p.code == code else p for p in places]


def without(places: list[Place], code: str) -> list[Place]:
    return [p for p in places if not p.code.startswith(code)]


def bounds(places: list[Place], code: str) -> tuple[float, float, float, float]:
    shape = next(p for p in places if p.code == code).shape()
    assert shape is not None
    minx, miny, maxx, maxy = shape.bounds
    return minx, miny, maxx, maxy


# -- the demo city ---------------------------------------------------------------------------
def test_demo_city_validates_clean_and_has_putian_shape() -> None:
    reg = load_demo_registry()
    report = validate(reg)
    assert report.ok, report.render_text()
    counts = reg.counts()
    assert counts[Level.CITY] == 1 and reg.cities[0].code == "350300"
    assert counts[Level.GRID] >= 200
    districts = reg.children("350300")
    assert sum(d.name_zh.endswith("区") for d in districts) == 4
    assert sum(d.name_zh.endswith("县") for d in districts) == 1
    assert len(districts) == 5
    assert all(2 <= len(reg.children(g.code)) <= 4 for g in reg.by_level(Level.GRID))
    lon0, lat0, lon1, lat1 = shapely.MultiPoint(
        [u.point for u in reg.by_level(Level.UNIT) if u.point]).bounds
    assert 118.9 <= lon0 < lon1 <= 119.2 and 25.3 <= lat0 < lat1 <= 25.5


def test_committed_demo_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "demo.geojson"
    save_registry(build_demo(), out)
    hint = "regenerate: python -m shared.places demo shared/places/data/demo_city.geojson"
    assert out.read_bytes() == demo_data_path().read_bytes(), hint
    assert demo_data_path().stat().st_size < 3_000_000


def test_small_demo_has_all_six_levels_and_validates() -> None:
    reg = PlaceRegistry.from_registry(build_demo(small=True))
    counts = reg.counts()
    assert all(counts[lvl] >= 1 for lvl in Level)
    assert counts[Level.GRID] == 4 and counts[Level.VILLAGE] == 1
    assert validate(reg).ok


def test_geojson_round_trip_keeps_every_place(tmp_path: Path) -> None:
    reg = build_demo(small=True)
    path = tmp_path / "small.geojson"
    save_registry(reg, path)
    assert load_registry(path) == reg
    features = Registry.model_validate(reg).to_geojson()["features"]
    by_level = {f["properties"]["level"]: f for f in features}
    assert by_level["city"]["geometry"] is None  # no boundary in the small variant
    assert by_level["grid"]["geometry"]["type"] == "Polygon"
    assert by_level["unit"]["geometry"]["type"] == "Point"
    assert by_level["unit"]["properties"]["footprint"]["type"] == "Polygon"


# -- overlaps, gaps and other geometry issues ------------------------------------------------
def test_overlapping_grids_report_both_codes_and_true_area() -> None:
    places = small_places()
    x0, y0, x1, y1 = bounds(places, G2)  # north-east cell; push its west edge into G1
    shift = 0.002
    places = replace(places, G2, geometry=rect(x0 - shift, y0, x1, y1))
    report = validate(places)
    assert [i.kind for i in report.issues] == [IssueKind.OVERLAP], report.render_text()
    issue = report.issues[0]
    assert set(issue.codes) == {G1, G2}
    true_area = sphere_area_m2(x0 - shift, y0, x0, y1)
    assert issue.area_m2 == pytest.approx(true_area, rel=0.005)
    assert issue.location is not None and x0 - shift < issue.location[0] < x0


def test_missing_grid_reports_gap_with_area_and_location() -> None:
    places = small_places()
    x0, y0, x1, y1 = bounds(places, G3)
    report = validate(without(places, G3))
    gaps = report.by_kind(IssueKind.GAP)
    assert len(report.issues) == 1 and len(gaps) == 1, report.render_text()
    assert gaps[0].codes == (VILLAGE,)
    assert gaps[0].area_m2 == pytest.approx(sphere_area_m2(x0, y0, x1, y1), rel=0.005)
    lon, lat = gaps[0].location or (0.0, 0.0)
    assert x0 < lon < x1 and y0 < lat < y1


def test_shrunk_grid_leaves_a_strip_gap_and_slivers_are_ignored() -> None:
    places = small_places()
    x0, y0, x1, y1 = bounds(places, G4)
    strip = replace(places, G4, geometry=rect(x0, y0, x1 - 0.0005, y1))
    (gap,) = validate(strip).by_kind(IssueKind.GAP)
    assert gap.area_m2 == pytest.approx(sphere_area_m2(x1 - 0.0005, y0, x1, y1), rel=0.005)
    # 1e-6° ≈ 0.1 m wide over ~550 m: about 55 m², reported; 1e-8° is ~0.5 m², ignored.
    thin = replace(places, G4, geometry=rect(x0, y0, x1 - 1e-6, y1))
    assert validate(thin).by_kind(IssueKind.GAP)
    assert validate(replace(places, G4, geometry=rect(x0, y0, x1 - 1e-8, y1))).ok


def test_grid_spilling_outside_its_village_is_reported() -> None:
    places = small_places()
    x0, y0, x1, y1 = bounds(places, G2)
    report = validate(replace(places, G2, geometry=rect(x0, y0, x1 + 0.001, y1)))
    (issue,) = report.by_kind(IssueKind.OUTSIDE_PARENT)
    assert issue.codes == (G2, VILLAGE)
    assert issue.area_m2 == pytest.approx(sphere_area_m2(x1, y0, x1 + 0.001, y1), rel=0.005)


def test_invalid_polygon_missing_geometry_and_stray_unit_are_reported() -> None:
    places = small_places()
    x0, y0, x1, y1 = bounds(places, G1)
    bowtie = PolygonGeometry(coordinates=(((x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)),))
    places = replace(places, G1, geometry=bowtie)
    places = replace(places, VILLAGE, geometry=None)
    unit = f"{G4}001"
    places = replace(places, unit, point=(x0 + 1e-4, y1 - 1e-4), geometry=None)  # inside G1
    report = validate(places)
    kinds = {i.kind: i.codes for i in report.issues}
    assert kinds[IssueKind.INVALID_GEOMETRY] == (G1,)
    assert kinds[IssueKind.MISSING_GEOMETRY] == (VILLAGE,)
    assert kinds[IssueKind.UNIT_OUTSIDE_GRID] == (unit, G4)


# -- codes and nesting ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "level", "parent", "kind"),
    [
        ("35030", Level.CITY, None, IssueKind.BAD_CODE),  # 5 digits
        ("350301", Level.CITY, None, IssueKind.BAD_CODE),  # a city ends in 00
        ("350300", Level.DISTRICT, "350300", IssueKind.BAD_CODE),  # that is the city
        ("35030200", Level.TOWN, "350302", IssueKind.BAD_CODE),  # 8 digits
        ("350302000", Level.TOWN, "350302", IssueKind.BAD_CODE),  # 000 is the district
        ("３50302002", Level.TOWN, "350302", IssueKind.BAD_CODE),  # full-width digit
        ("350303001009", Level.VILLAGE, "350302001", IssueKind.CODE_NOT_PREFIXED),
        ("350402", Level.DISTRICT, "350300", IssueKind.CODE_NOT_PREFIXED),
        (f"{G1}000", Level.UNIT, G1, IssueKind.BAD_CODE),
        (f"{VILLAGE}009", Level.GRID, "350302001", IssueKind.BAD_NESTING),  # grid under a town
        ("350302001002", Level.VILLAGE, "350302009", IssueKind.MISSING_PARENT),
        ("350305", Level.DISTRICT, None, IssueKind.BAD_ROOT),
    ],
)
def test_bad_codes_and_nesting_are_reported(
    code: str, level: Level, parent: str | None, kind: IssueKind
) -> None:
    place = Place(code=code, level=level, name_zh="测试", parent_code=parent)
    report = validate([*small_places(), place])
    assert any(i.kind is kind and code in i.codes for i in report.issues), report.render_text()


def test_duplicate_codes_are_reported_and_refused_by_the_registry() -> None:
    places = small_places()
    dup = [*places, places[-1]]
    assert validate(dup).by_kind(IssueKind.DUPLICATE_CODE)[0].codes == (places[-1].code,)
    with pytest.raises(ValueError, match="duplicate"):
        PlaceRegistry(dup)


# -- area paths and permissions ---------------------------------------------------------------
def test_area_paths_ancestors_and_is_within() -> None:
    reg = PlaceRegistry.from_registry(build_demo(small=True))
    unit = f"{G3}002"
    expected = ("350300", "350302", "350302001", VILLAGE, G3, unit)
    assert reg.area_path(unit) == expected
    assert reg.area_path_str(unit) == "/".join(expected)
    assert [p.code for p in reg.ancestors(unit)] == list(expected[:-1])
    assert [p.code for p in reg.children(VILLAGE)] == [G1, G2, G3, G4]
    assert len(reg.descendants("350302001", Level.UNIT)) == 8
    assert reg.is_within(unit, "350302001") and reg.is_within(unit, unit)
    assert reg.is_within(G3, "350300")
    assert not reg.is_within(unit, G1) and not reg.is_within("350302001", unit)
    town_path = reg.area_path_str("350302001")
    assert path_within(reg.area_path_str(unit), town_path)
    assert path_within(town_path, town_path)
    assert not path_within("350300/350302/3503020019", town_path)  # prefix ending mid-code
    with pytest.raises(KeyError):
        reg.area_path("350302001099")


def test_code_derived_paths_agree_with_parent_links() -> None:
    reg = load_demo_registry()
    for place in reg:
        assert code_area_path(place.code) == reg.area_path(place.code)


def test_broken_parent_chain_raises_instead_of_a_short_path() -> None:
    reg = PlaceRegistry([p for p in small_places() if p.code != "350302"])
    with pytest.raises(ValueError, match="missing"):
        reg.area_path(G1)


# -- locate -------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    grid=st.sampled_from(DEMO_GRIDS),
    fx=st.floats(0.001, 0.999),
    fy=st.floats(0.001, 0.999),
)
def test_points_inside_a_grid_locate_to_it(grid: Place, fx: float, fy: float) -> None:
    shape = grid.shape()
    assert shape is not None
    x0, y0, x1, y1 = shape.bounds
    lon, lat = x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)
    assume(shape.contains(shapely.Point(lon, lat)))
    loc = load_demo_registry().locate(lon, lat)
    assert loc is not None and loc.grid.code == grid.code
    assert loc.area_path[:5] == load_demo_registry().area_path(grid.code)


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(117.0, 121.0),
    lat=st.floats(24.0, 27.0),
)
def test_points_outside_the_city_locate_to_nothing(lon: float, lat: float) -> None:
    x0, y0, x1, y1 = CITY_BOX
    assume(not (x0 <= lon <= x1 and y0 <= lat <= y1))
    assert load_demo_registry().locate(lon, lat) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    grid=st.sampled_from(DEMO_GRIDS),
    dx=st.floats(-120.0, 120.0),
    dy=st.floats(-120.0, 120.0),
)
def test_nearest_unit_matches_brute_force(grid: Place, dx: float, dy: float) -> None:
    reg = load_demo_registry()
    units = reg.children(grid.code)
    ux, uy = units[0].point or (0.0, 0.0)
    lon = ux + dx / (111_195 * math.cos(math.radians(uy)))
    lat = uy + dy / 111_195
    shape = grid.shape()
    assume(shape is not None and shape.contains(shapely.Point(lon, lat)))
    loc = reg.locate(lon, lat, unit_radius_m=60)
    assert loc is not None and loc.grid.code == grid.code

    def dist(u: Place) -> float:
        foot = u.shape()
        if foot is not None and foot.covers(shapely.Point(lon, lat)):
            return 0.0
        assert u.point is not None
        return distance_m(lon, lat, *u.point)

    best = min(units, key=dist)
    if dist(best) <= 60:
        assert loc.unit == best and loc.area_path[-1] == best.code
        assert loc.unit_distance_m == pytest.approx(dist(best), abs=0.05)
    else:
        assert loc.unit is None and loc.area_path[-1] == grid.code


def test_locate_on_a_shared_edge_is_deterministic() -> None:
    reg = PlaceRegistry.from_registry(build_demo(small=True))
    _, y0, x1, y1 = bounds(list(reg), G1)
    loc = reg.locate(x1, (y0 + y1) / 2)  # edge between G1 and G2
    assert loc is not None and loc.grid.code == G1
    assert reg.locate(119.5, 25.435) is None


def test_locate_covers_every_point_at_putian_scale() -> None:
    # Speed is measured in `make bench`, never asserted here.
    reg = PlaceRegistry.from_registry(build_demo(detail=3))
    assert len(reg.by_level(Level.GRID)) >= 2500
    x0, y0, x1, y1 = CITY_BOX
    points = [(x0 + (x1 - x0) * (i % 97) / 97, y0 + (y1 - y0) * (i % 89) / 89)
              for i in range(5000)]
    found = sum(reg.locate(lon, lat) is not None for lon, lat in points)
    assert found == len(points)


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_validate_demo_stats_and_locate(tmp_path: Path) -> None:
    runner = CliRunner()
    small = tmp_path / "small.geojson"
    assert runner.invoke(app, ["demo", str(small), "--small"]).exit_code == 0
    ok = runner.invoke(app, ["validate", str(small)])
    assert ok.exit_code == 0, ok.output
    stats = runner.invoke(app, ["stats", str(small)])
    assert stats.exit_code == 0 and "网格" in stats.output
    x0, y0, x1, y1 = bounds(small_places(), G3)
    hit = runner.invoke(app, ["locate", str(small), str((x0 + x1) / 2), str((y0 + y1) / 2)])
    assert hit.exit_code == 0 and f"350300/350302/350302001/{VILLAGE}/{G3}" in hit.output
    assert runner.invoke(app, ["locate", str(small), "119.5", "25.0"]).exit_code == 1

    broken = tmp_path / "broken.geojson"
    save_registry(Registry(places=tuple(without(small_places(), G3))), broken)
    bad = runner.invoke(app, ["validate", str(broken)])
    assert bad.exit_code == 1 and "gap" in bad.output
