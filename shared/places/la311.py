"""A registry for the City of Los Angeles built from its own 311 records.

LA's hierarchy in the data is Area Planning Commission (APC) → Council District (CD) →
Neighborhood Council (NC). It is not a tree (an NC spans several CDs), so a village is
the part of one NC inside one CD inside one APC, and the codes follow our scheme:

    city 990100 · district 9901AA (APC) · town +CCC (CD number) · village +NNN (NC number)
    · grid +GGG (a cell of a 0.01° lattice, numbered north-west first)

There are no official boundaries in the sample, so grids are the lattice cells that hold
sample points, each given to the village with most points in it; every level's boundary is
the union of its children, so the registry tiles (不重叠、无死角) by construction.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import shapely

from .model import Level, MultiPolygonGeometry, Place, PolygonGeometry, Registry

CITY_CODE = "990100"  # 99: outside China's province codes, so it never collides
CELL_DEG = 0.01
ND = 6
APCS: dict[str, tuple[str, str]] = {  # name -> (2 code digits, 中文名)
    "Central APC": ("01", "中央规划区"),
    "East Los Angeles APC": ("02", "东洛杉矶规划区"),
    "Harbor APC": ("03", "港湾规划区"),
    "North Valley APC": ("04", "北谷规划区"),
    "South Los Angeles APC": ("05", "南洛杉矶规划区"),
    "South Valley APC": ("06", "南谷规划区"),
    "West Los Angeles APC": ("07", "西洛杉矶规划区"),
    "West Valley APC": ("08", "西谷规划区"),
}


def district_code(apc: str) -> str | None:
    entry = APCS.get(apc.strip())
    return None if entry is None else CITY_CODE[:4] + entry[0]


def town_code(apc: str, cd: str) -> str | None:
    d = district_code(apc)
    if d is None or not cd.strip().isdigit() or not 0 < int(cd) < 1000:
        return None
    return f"{d}{int(cd):03d}"


def village_code(apc: str, cd: str, nc: str) -> str | None:
    t = town_code(apc, cd)
    if t is None or not nc.strip().isdigit() or not 0 < int(nc) < 1000:
        return None
    return f"{t}{int(nc):03d}"


def hierarchy_code(apc: str, cd: str, nc: str) -> str | None:
    """The most precise place the record's own APC/CD/NC fields name."""
    return village_code(apc, cd, nc) or town_code(apc, cd) or district_code(apc)


def _cell(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)


def _box(cell: tuple[int, int]) -> shapely.Polygon:
    x0, y0 = round(cell[0] * CELL_DEG, ND), round(cell[1] * CELL_DEG, ND)
    x1, y1 = round((cell[0] + 1) * CELL_DEG, ND), round((cell[1] + 1) * CELL_DEG, ND)
    return shapely.box(x0, y0, x1, y1)


def build_la_registry(rows: Iterable[dict[str, str]]) -> Registry:
    votes: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    names: dict[str, tuple[str, str]] = {}
    for r in rows:
        try:
            cell: tuple[int, int] | None = _cell(float(r["Longitude"]), float(r["Latitude"]))
        except (KeyError, ValueError):
            cell = None
        v = village_code(r.get("APC", ""), r.get("CD", ""), r.get("NC", ""))
        if v is not None:
            names[v] = (r.get("NCName", "").strip() or f"NC {int(r['NC'])}",
                        r.get("CDMember", "").strip())
        if cell is not None:
            votes[cell].update([v] if v is not None else [])
    owner = {cell: max(c.items(), key=lambda kv: (kv[1], -int(kv[0])))[0]
             for cell, c in votes.items() if c}
    # A cell whose points name no neighbourhood joins the nearest cell that does, so every
    # point of the sample lies in some grid.
    for lone in sorted(c for c in votes if c not in owner):
        near = min(owner, key=lambda o: ((o[0] - lone[0]) ** 2 + (o[1] - lone[1]) ** 2, o))
        owner[lone] = owner[near]
    cells: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for cell, v in owner.items():
        cells[v].append(cell)
    return Registry(places=tuple(_places(cells, names)))


def _places(cells: dict[str, list[tuple[int, int]]],
            names: dict[str, tuple[str, str]]) -> list[Place]:
    grids: list[Place] = []
    villages: list[Place] = []
    shapes: dict[str, shapely.Geometry] = {}
    for v in sorted(cells):
        ordered = sorted(cells[v], key=lambda c: (-c[1], c[0]))  # north-west first
        boxes = [_box(c) for c in ordered]
        for n, (c, box) in enumerate(zip(ordered, boxes, strict=True), start=1):
            grids.append(Place(code=f"{v}{n:03d}", level=Level.GRID, name_zh=f"第{n}网格",
                               name_en=f"Grid {n} ({c[1] * CELL_DEG:.2f}N {c[0] * CELL_DEG:.2f}E)",
                               parent_code=v, geometry=_geometry(box)))
        shapes[v] = shapely.union_all(boxes)
        nc_name, _ = names[v]
        villages.append(Place(code=v, level=Level.VILLAGE, name_zh=nc_name, name_en=nc_name,
                              parent_code=v[:9], geometry=_geometry(shapes[v])))
    towns = _rollup(villages, shapes, Level.TOWN, 9, lambda code: (
        f"第{int(code[-3:])}市议会选区", f"Council District {int(code[-3:])}"))
    districts = _rollup(towns, shapes, Level.DISTRICT, 6, _apc_names)
    city_shape = shapely.union_all([shapes[d.code] for d in districts])
    city = Place(code=CITY_CODE, level=Level.CITY, name_zh="洛杉矶市",
                 name_en="City of Los Angeles", geometry=_geometry(city_shape))
    return [city, *districts, *towns, *villages, *grids]


def _apc_names(code: str) -> tuple[str, str]:
    for name, (digits, zh) in APCS.items():
        if code[4:] == digits:
            return zh, name
    raise KeyError(code)


def _rollup(children: list[Place], shapes: dict[str, shapely.Geometry], level: Level,
            length: int, name: object) -> list[Place]:
    groups: dict[str, list[str]] = defaultdict(list)
    for child in children:
        groups[child.parent_code or ""].append(child.code)
    out = []
    for code in sorted(groups):
        shapes[code] = shapely.union_all([shapes[c] for c in groups[code]])
        zh, en = name(code)  # type: ignore[operator]
        parent = CITY_CODE if level is Level.DISTRICT else code[:6]
        out.append(Place(code=code[:length], level=level, name_zh=zh, name_en=en,
                         parent_code=parent, geometry=_geometry(shapes[code])))
    return out


def _geometry(geom: shapely.Geometry) -> PolygonGeometry | MultiPolygonGeometry:
    geom = shapely.set_precision(geom, 10 ** -ND)
    if isinstance(geom, shapely.Polygon):
        return PolygonGeometry(coordinates=_rings(geom))
    if isinstance(geom, shapely.MultiPolygon):
        return MultiPolygonGeometry(coordinates=tuple(_rings(p) for p in geom.geoms))
    raise TypeError(f"unexpected {geom.geom_type}")


def _rings(p: shapely.Polygon) -> tuple[tuple[tuple[float, float], ...], ...]:
    return tuple(tuple((round(x, ND), round(y, ND)) for x, y in ring.coords)
                 for ring in (p.exterior, *p.interiors))


def read_rows(path: str | Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
