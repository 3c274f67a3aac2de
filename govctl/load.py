"""Synthetic load that duplicate detection keeps apart: for soak runs and fault tests."""

from __future__ import annotations

import uuid
from typing import Any

from shared.catalogue import categories
from shared.places.demo import load_demo_registry
from shared.places.model import Level


def distinct_reports(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Reports that are genuinely different problems: the same category never recurs in
    the same town within one batch of 34 × 18, and every text differs. Successive calls
    that go on from where the last stopped (`start`) stay different from the earlier ones
    (another unit, another 点位), so dedup rightly keeps them apart while those are open."""
    registry = load_demo_registry()
    towns = registry.by_level(Level.TOWN)
    cats = list(categories().values())
    reports = []
    for i in range(start, start + count):
        k, r = i % len(cats), i // len(cats)
        town = towns[(k * 7 + r) % len(towns)]
        units = registry.descendants(town.code, Level.UNIT)
        unit = units[(len(units) // 2 + r) % len(units)]
        reports.append({
            "category": cats[k].code, "unit_code": unit.code,
            "description": f"{town.name_zh}{unit.name_zh}：{cats[k].name_zh}，"
                           f"点位{r}号，{uuid.uuid4().hex[:6]}"})
    return reports
