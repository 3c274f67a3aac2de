"""Frozen models of the six-level place registry: 市 → 县(区) → 镇(街) → 村(社区) → 网格 → 单元.

The models check shape only (types, GeoJSON structure). Data quality — well-formed codes,
nesting, overlaps and gaps — is `validate.py`'s job, so a bad file can still be loaded and
every problem in it reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import shapely
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from shapely.geometry.base import BaseGeometry


class Level(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"
    UNIT = "unit"

    @property
    def depth(self) -> int:
        """0 for the city, 5 for a unit."""
        return _DEPTH[self]

    @property
    def parent(self) -> Level | None:
        return None if self is Level.CITY else _LEVELS[self.depth - 1]

    @property
    def child(self) -> Level | None:
        return None if self is Level.UNIT else _LEVELS[self.depth + 1]

    @property
    def name_zh(self) -> str:
        return _NAME_ZH[self]


_LEVELS: tuple[Level, ...] = tuple(Level)
_DEPTH: dict[Level, int] = {lvl: i for i, lvl in enumerate(_LEVELS)}
_NAME_ZH: dict[Level, str] = {
    Level.CITY: "市",
    Level.DISTRICT: "县(区)",
    Level.TOWN: "镇(街)",
    Level.VILLAGE: "村(社区)",
    Level.GRID: "网格",
    Level.UNIT: "单元",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _xy(value: Any) -> Any:
    # GeoJSON positions may carry altitude; the registry is 2-D.
    if isinstance(value, list | tuple) and len(value) > 2:
        return tuple(value[:2])
    return value


def _closed(ring: tuple[Position, ...]) -> tuple[Position, ...]:
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise ValueError("a GeoJSON linear ring needs >= 4 positions and must be closed")
    return ring


Position = Annotated[tuple[float, float], BeforeValidator(_xy)]
LinearRing = Annotated[tuple[Position, ...], AfterValidator(_closed)]
PolygonCoords = Annotated[tuple[LinearRing, ...], Field(min_length=1)]


def _rounded(coords: Any, ndigits: int | None) -> Any:
    if isinstance(coords, float | int):
        return coords if ndigits is None else round(float(coords), ndigits)
    return [_rounded(c, ndigits) for c in coords]


class PolygonGeometry(_Frozen):
    """GeoJSON Polygon in lon/lat (WGS 84 / GCJ-02 alike: the registry never mixes datums)."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: PolygonCoords

    def to_shape(self) -> BaseGeometry:
        shell, *holes = self.coordinates
        return shapely.Polygon(shell, holes)

    def to_geojson(self, ndigits: int | None = 6) -> dict[str, Any]:
        return {"type": self.type, "coordinates": _rounded(self.coordinates, ndigits)}


class MultiPolygonGeometry(_Frozen):
    """Boundaries above grid level may have islands (秀屿区 has many); grids may not."""

    type: Literal["MultiPolygon"] = "MultiPolygon"
    coordinates: Annotated[tuple[PolygonCoords, ...], Field(min_length=1)]

    def to_shape(self) -> BaseGeometry:
        return shapely.MultiPolygon([(p[0], p[1:]) for p in self.coordinates])

    def to_geojson(self, ndigits: int | None = 6) -> dict[str, Any]:
        return {"type": self.type, "coordinates": _rounded(self.coordinates, ndigits)}


Geometry = Annotated[PolygonGeometry | MultiPolygonGeometry, Field(discriminator="type")]


def geometry_from_shape(geom: BaseGeometry, ndigits: int | None = 6) -> PolygonGeometry:
    """A shapely Polygon as a GeoJSON model, coordinates rounded (6 digits ≈ 0.1 m)."""
    if not isinstance(geom, shapely.Polygon):
        raise TypeError(f"expected a Polygon, got {geom.geom_type}")
    rings = [geom.exterior, *geom.interiors]
    return PolygonGeometry(coordinates=tuple(
        tuple((_r(x, ndigits), _r(y, ndigits)) for x, y in ring.coords) for ring in rings
    ))


def _r(v: float, ndigits: int | None) -> float:
    return v if ndigits is None else round(v, ndigits)


class Place(_Frozen):
    """One place at any of the six levels.

    `geometry` is the grid's area for a grid, the boundary for city..village (optional, but
    needed to find gaps) and an optional building footprint for a unit. `point` is a unit's
    (lon, lat) and is only allowed on units.
    """

    code: str = Field(min_length=1)
    level: Level
    name_zh: str
    name_en: str = ""
    parent_code: str | None = None
    geometry: Geometry | None = None
    point: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _point_only_on_units(self) -> Place:
        if self.point is not None and self.level is not Level.UNIT:
            raise ValueError(f"{self.code}: only units carry a point")
        return self

    def shape(self) -> BaseGeometry | None:
        return None if self.geometry is None else self.geometry.to_shape()

    def to_feature(self, ndigits: int | None = 6) -> dict[str, Any]:
        """GeoJSON Feature: units as a Point (footprint in properties), others as their polygon."""
        props: dict[str, Any] = {
            "code": self.code,
            "level": self.level.value,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "parent_code": self.parent_code,
        }
        poly = None if self.geometry is None else self.geometry.to_geojson(ndigits)
        geometry: dict[str, Any] | None = poly
        if self.level is Level.UNIT:
            geometry = None
            if self.point is not None:
                geometry = {"type": "Point", "coordinates": _rounded(self.point, ndigits)}
            if poly is not None:
                props["footprint"] = poly
        return {"type": "Feature", "id": self.code, "properties": props, "geometry": geometry}

    @classmethod
    def from_feature(cls, feature: Mapping[str, Any]) -> Place:
        props = dict(feature.get("properties") or {})
        geometry = feature.get("geometry")
        footprint = props.pop("footprint", None)
        point = None
        if geometry is not None and geometry.get("type") == "Point":
            point, geometry = tuple(geometry["coordinates"][:2]), None
        return cls.model_validate(
            {**props, "geometry": geometry if geometry is not None else footprint, "point": point}
        )


class Registry(_Frozen):
    """The registry as data: what one GeoJSON FeatureCollection file holds."""

    places: tuple[Place, ...] = ()

    def to_geojson(self, ndigits: int | None = 6) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": [p.to_feature(ndigits) for p in self.places],
        }

    @classmethod
    def from_geojson(cls, data: Mapping[str, Any]) -> Registry:
        if data.get("type") != "FeatureCollection":
            raise ValueError("a place registry file must be a GeoJSON FeatureCollection")
        return cls(places=tuple(Place.from_feature(f) for f in data.get("features", [])))
