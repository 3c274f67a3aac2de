"""Placing a report in the six-level hierarchy: by place code, or by point."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from shared.places.codes import code_area_path
from shared.places.demo import load_demo_registry
from shared.places.model import Level, Place
from shared.places.registry import PlaceRegistry
from shared.runtime.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (REPO / "data" / "la311" / "registry.geojson",)


@dataclass(frozen=True)
class Placement:
    place_code: str | None
    area_path: tuple[str, ...]
    placed: bool  # False: outside every grid; kept at city level for manual placement


class UnknownPlace(ValueError):
    pass


def place(registry: PlaceRegistry, place_code: str | None, lon: float | None,
          lat: float | None, city: str | None = None) -> Placement:
    """A unit (or any place) code wins; else the grid under the point; else the city,
    unplaced, waiting for a person (never dropped)."""
    if place_code:
        if registry.get(place_code) is None:
            raise UnknownPlace(f"unknown place code {place_code}")
        return Placement(place_code, registry.area_path(place_code), True)
    if lon is not None and lat is not None:
        found = registry.locate(lon, lat)
        if found is not None:
            return Placement(found.code, found.area_path, True)
    return Placement(None, (home_city(registry, city),), False)


def home_city(registry: PlaceRegistry, hint: str | None) -> str:
    """The city an unplaced report waits in: the hint's city if known, else the first."""
    if hint:
        try:
            root = code_area_path(hint)[0]
        except ValueError:
            root = ""
        if registry.get(root) is not None:
            return root
    return registry.by_level(Level.CITY)[0].code


def registry_files(settings: ServiceSettings) -> tuple[str, ...]:
    extra = [p for p in getattr(settings, "place_registries", "").split(",") if p.strip()]
    loaded = sorted(str(p) for p in (settings.data_dir / "places").glob("*.geojson"))
    return tuple(str(p) for p in (*SHIPPED, *extra, *loaded) if Path(p).exists())


@functools.cache
def combined_registry(files: tuple[str, ...]) -> PlaceRegistry:
    """The demo city plus every registry file; a later file replaces an earlier one's
    cities (a reloaded registry supersedes the shipped one)."""
    by_city: dict[str, list[Place]] = {}
    for places in (load_demo_registry().places, *(PlaceRegistry.load(f).places for f in files)):
        cities: dict[str, list[Place]] = {}
        for p in places:
            cities.setdefault(_root(p.code), []).append(p)
        by_city.update(cities)
    return PlaceRegistry(p for ps in by_city.values() for p in ps)


def _root(code: str) -> str:
    try:
        return code_area_path(code)[0]
    except ValueError:
        return code[:4] + "00"
