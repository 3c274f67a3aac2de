"""Placing a report in the six-level hierarchy: by unit code, or by point."""

from __future__ import annotations

from dataclasses import dataclass

from shared.places.model import Level
from shared.places.registry import PlaceRegistry


@dataclass(frozen=True)
class Placement:
    place_code: str | None
    area_path: tuple[str, ...]
    placed: bool  # False: outside every grid; kept at city level for manual placement


class UnknownPlace(ValueError):
    pass


def place(registry: PlaceRegistry, unit_code: str | None,
          lon: float | None, lat: float | None) -> Placement:
    if unit_code:
        if registry.get(unit_code) is None:
            raise UnknownPlace(f"unknown place code {unit_code}")
        return Placement(unit_code, registry.area_path(unit_code), True)
    if lon is not None and lat is not None:
        found = registry.locate(lon, lat)
        if found is not None:
            return Placement(found.code, found.area_path, True)
    city = registry.by_level(Level.CITY)[0]
    return Placement(None, (city.code,), False)
