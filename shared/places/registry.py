"""PlaceRegistry: look-ups, area paths, permission checks and point location."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely import STRtree

from .codes import join_path
from .geo import M_PER_DEG
from .model import Level, Place, Registry

DEFAULT_UNIT_RADIUS_M = 60.0


def load_registry(path: str | Path) -> Registry:
    """Read a GeoJSON FeatureCollection without checking it (see validate.validate)."""
    with open(path, encoding="utf-8") as f:
        return Registry.from_geojson(json.load(f))


def save_registry(registry: Registry, path: str | Path, ndigits: int | None = 6) -> None:
    """Write one feature per line, so the committed file diffs line by line."""
    features = registry.to_geojson(ndigits)["features"]
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    body = ",\n".join(lines)
    Path(path).write_text(
        '{"type":"FeatureCollection","features":[\n' + body + "\n]}\n", encoding="utf-8"
    )


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point falls: its grid, and the nearest unit of that grid if close enough."""

    grid: Place
    unit: Place | None
    unit_distance_m: float | None
    area_path: tuple[str, ...]  # down to the unit when one matched, else to the grid

    @property
    def code(self) -> str:
        return self.area_path[-1]

    @property
    def area_path_str(self) -> str:
        return join_path(self.area_path)


@dataclass(frozen=True, slots=True)
class _UnitSpot:
    place: Place
    lon: float
    lat: float
    bbox: tuple[float, float, float, float] | None  # footprint bounds, for a cheap pre-test
    footprint: shapely.Geometry | None


@dataclass(frozen=True, slots=True)
class _GridIndex:
    tree: STRtree
    grids: tuple[Place, ...]
    units: tuple[tuple[_UnitSpot, ...], ...]  # per grid, same order as `grids`


class PlaceRegistry:
    """An immutable, indexed view of a list of places.

    Tolerates invalid data (missing parents, bad codes) so it can be inspected; only duplicate
    codes are refused, since look-ups would be ambiguous. Run validate() before trusting it.
    """

    def __init__(self, places: Iterable[Place]) -> None:
        self._places = tuple(places)
        self._by_code: dict[str, Place] = {}
        kids: dict[str, list[Place]] = {}
        for p in self._places:
            if p.code in self._by_code:
                raise ValueError(f"duplicate place code {p.code}")
            self._by_code[p.code] = p
            if p.parent_code is not None:
                kids.setdefault(p.parent_code, []).append(p)
        self._children = {k: tuple(sorted(v, key=lambda p: p.code)) for k, v in kids.items()}
        self._paths: dict[str, tuple[str, ...]] = {}
        self._index: _GridIndex | None = None

    # -- construction and files ------------------------------------------------------------
    @classmethod
    def from_registry(cls, registry: Registry) -> PlaceRegistry:
        return cls(registry.places)

    @classmethod
    def load(cls, path: str | Path) -> PlaceRegistry:
        return cls(load_registry(path).places)

    def to_registry(self) -> Registry:
        return Registry(places=self._places)

    def save(self, path: str | Path) -> None:
        save_registry(self.to_registry(), path)

    # -- look-ups --------------------------------------------------------------------------
    @property
    def places(self) -> tuple[Place, ...]:
        return self._places

    def __len__(self) -> int:
        return len(self._places)

    def __iter__(self) -> Iterator[Place]:
        return iter(self._places)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __getitem__(self, code: str) -> Place:
        return self._by_code[code]

    def get(self, code: str) -> Place | None:
        return self._by_code.get(code)

    def by_level(self, level: Level) -> tuple[Place, ...]:
        return tuple(p for p in self._places if p.level is level)

    def counts(self) -> dict[Level, int]:
        out = dict.fromkeys(Level, 0)
        for p in self._places:
            out[p.level] += 1
        return out

    @property
    def cities(self) -> tuple[Place, ...]:
        return self.by_level(Level.CITY)

    def children(self, code: str) -> tuple[Place, ...]:
        """Direct children, ordered by code."""
        self._require(code)
        return self._children.get(code, ())

    def descendants(self, code: str, level: Level | None = None) -> tuple[Place, ...]:
        """Everything below `code` (depth first, by code), optionally only one level."""
        out: list[Place] = []
        stack = list(reversed(self.children(code)))
        while stack:
            p = stack.pop()
            if level is None or p.level is level:
                out.append(p)
            stack.extend(reversed(self._children.get(p.code, ())))
        return tuple(out)

    def parent(self, code: str) -> Place | None:
        pc = self._require(code).parent_code
        return None if pc is None else self._by_code.get(pc)

    def ancestors(self, code: str) -> tuple[Place, ...]:
        """From the city down to the direct parent (excluding the place itself)."""
        return tuple(self._by_code[c] for c in self.area_path(code)[:-1])

    # -- area paths and permissions --------------------------------------------------------
    def area_path(self, code: str) -> tuple[str, ...]:
        """Codes from the city down to `code`, following parent links.

        Raises KeyError for an unknown code and ValueError for a broken or cyclic parent
        chain: a wrong path would silently widen or narrow someone's permissions.
        """
        if (cached := self._paths.get(code)) is not None:
            return cached
        chain = [self._require(code)]
        while (pc := chain[-1].parent_code) is not None:
            parent = self._by_code.get(pc)
            if parent is None:
                raise ValueError(f"{code}: parent {pc} of {chain[-1].code} is missing")
            if len(chain) > len(Level):
                raise ValueError(f"{code}: parent chain is cyclic or too deep")
            chain.append(parent)
        path = tuple(p.code for p in reversed(chain))
        self._paths[code] = path
        return path

    def area_path_str(self, code: str) -> str:
        """'350300/350302/350302001/...': prefix-searchable, see codes.path_within."""
        return join_path(self.area_path(code))

    def is_within(self, code: str, ancestor_code: str) -> bool:
        """True if `code` is `ancestor_code` itself or lies below it."""
        self._require(ancestor_code)
        return ancestor_code in self.area_path(code)

    def _require(self, code: str) -> Place:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"unknown place code {code!r}") from None

    # -- point location --------------------------------------------------------------------
    def locate(
        self, lon: float, lat: float, *, unit_radius_m: float = DEFAULT_UNIT_RADIUS_M
    ) -> Location | None:
        """The grid containing (lon, lat) and its nearest unit within `unit_radius_m`.

        None when the point lies outside every grid: callers queue it for manual placement.
        A point on a shared edge goes to the grid with the lowest code, so it is stable.
        """
        index = self._grid_index()
        hits = index.tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        i = int(hits[0])
        if len(hits) > 1:
            i = min(map(int, hits), key=lambda k: index.grids[k].code)
        grid = index.grids[i]
        unit, dist = _nearest_unit(index.units[i], lon, lat, unit_radius_m)
        path = self.area_path(unit.code if unit is not None else grid.code)
        return Location(grid=grid, unit=unit, unit_distance_m=dist, area_path=path)

    def _grid_index(self) -> _GridIndex:
        # Built on first use: a registry used only for paths never pays for the tree.
        if self._index is None:
            grids = tuple(p for p in self._places if p.level is Level.GRID and p.geometry)
            shapes = [g.shape() for g in grids]
            shapely.prepare(shapes)
            units = tuple(
                tuple(_spot(u) for u in self._children.get(g.code, ()) if u.point is not None)
                for g in grids
            )
            self._index = _GridIndex(STRtree(shapes), grids, units)
        return self._index


def _spot(unit: Place) -> _UnitSpot:
    assert unit.point is not None
    footprint = unit.shape()
    bbox = None
    if footprint is not None:
        shapely.prepare(footprint)
        minx, miny, maxx, maxy = footprint.bounds
        bbox = (minx, miny, maxx, maxy)
    return _UnitSpot(unit, unit.point[0], unit.point[1], bbox, footprint)


def _nearest_unit(
    spots: tuple[_UnitSpot, ...], lon: float, lat: float, radius_m: float
) -> tuple[Place | None, float | None]:
    """Inside a footprint counts as 0 m; otherwise the distance to the unit's point."""
    kx = M_PER_DEG * math.cos(math.radians(lat))
    best: Place | None = None
    best_d = math.inf
    for s in spots:
        if s.bbox is not None and _in_bbox(s.bbox, lon, lat) and _covers(s.footprint, lon, lat):
            d = 0.0
        else:
            d = math.hypot((lon - s.lon) * kx, (lat - s.lat) * M_PER_DEG)
        if d < best_d:
            best, best_d = s.place, d
    if best is None or best_d > radius_m:
        return None, None
    return best, best_d


def _in_bbox(b: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return b[0] <= lon <= b[2] and b[1] <= lat <= b[3]


def _covers(geom: shapely.Geometry | None, lon: float, lat: float) -> bool:
    return geom is not None and bool(shapely.intersects_xy(geom, lon, lat))


__all__ = [
    "DEFAULT_UNIT_RADIUS_M",
    "Location",
    "PlaceRegistry",
    "load_registry",
    "save_registry",
]
