"""Hotspots (热点/高发): unusual concentrations of one category in one area and period.

For each area at one level of the hierarchy and each category, the count in the recent
window is compared with what was expected, under a Poisson model, from two baselines:
  * the area's own history of that category (its rate over the baseline period), and
  * the city's current rate of that category, shared out by the area's usual volume
    (so a city-wide surge, e.g. noise in summer, is not one area's hotspot).
The larger expectation is used, and an area is flagged when the upper-tail probability of
its count is below alpha / (number of pairs tested) (Bonferroni): with hundreds of grids
and dozens of categories, some counts look high by chance alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from services.projections import tables as t
from services.projections.queries import below

MIN_EXPECTED = 0.25  # an area with no history still expects something
MIN_OBSERVED = 3  # two reports are a coincidence whatever the model says


@dataclass(frozen=True)
class Action:
    code: str
    zh: str
    en: str


CONSULT = Action("consultation", "组织会商研判：社区、物业与相关部门现场会商，研究源头治理方案",
                 "Call a consultation (会商研判): community, property manager and departments "
                 "agree on a fix at the source")
ACTIONS: dict[str, Action] = {
    "safety": Action("consultation", "组织会商研判：社区、物业、消防等多方会商，"
                     "如设置集中充电点、排查隐患", "Call a consultation (会商研判) with the "
                     "community, property manager and fire service, e.g. a shared charging point"),
    "fire": Action("consultation", "组织会商研判并开展消防安全专项检查",
                   "Call a consultation and run a fire-safety inspection"),
    "dispute": Action("mediation", "会商研判后开展集中调解，必要时引入人民调解员",
                      "Consult, then hold joint mediation with people's mediators"),
    "food": Action("joint_enforcement", "市场监管、城管联合执法，重点区域加密巡查",
                   "Joint enforcement by market regulation and urban management; patrol here"),
    "market": Action("joint_enforcement", "开展联合执法专项检查",
                     "Joint enforcement campaign"),
    "order": Action("patrol", "加强该区域巡逻防控，会同公安研判",
                    "Step up patrols here and review with the police"),
    "urban": Action("special_campaign", "开展专项整治，并会商研判源头治理措施",
                    "Run a clean-up campaign and consult on a lasting fix"),
    "environment": Action("special_campaign", "生态环境专项整治，会商研判源头治理",
                          "Environmental clean-up campaign; consult on the source"),
    "livelihood": Action("service_visit", "上门走访，协调民生部门集中解决",
                         "Visit households; coordinate the service departments"),
}


def poisson_sf(observed: int, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected), summed in log space (tiny tails too)."""
    if observed <= 0:
        return 1.0
    log_l = math.log(expected)
    total, k = 0.0, observed
    while k < observed + 1000:
        term = math.exp(-expected + k * log_l - math.lgamma(k + 1))
        total += term
        if k > expected and term < total * 1e-12:
            break
        k += 1
    return min(1.0, total)


@dataclass(frozen=True)
class Window:
    as_of: date
    days: int = 7
    baseline_days: int = 56

    @property
    def first(self) -> date:
        return self.as_of - timedelta(days=self.days - 1)

    @property
    def baseline_first(self) -> date:
        return self.first - timedelta(days=self.baseline_days)


def detect(c: Connection, scope: str, level_depth: int, w: Window,
           alpha: float = 0.01) -> list[dict[str, Any]]:
    pairs = _area_counts(c, scope, level_depth, w)
    city = scope.split("/", 1)[0]
    city_now, city_hist = _category_counts(c, city, w)
    volume = _volumes(pairs)
    city_volume = sum(city_hist.values())
    tested = sum(1 for obs, _ in pairs.values() if obs > 0)
    threshold = alpha / max(tested, 1)
    found = []
    for (area, category), (obs, hist) in pairs.items():
        if obs < MIN_OBSERVED:
            continue
        own = hist * w.days / w.baseline_days
        share = (volume.get(area, 0) + 1) / (city_volume + max(len(volume), 1))
        citywide = city_now.get(category, 0) * share
        expected = max(own, citywide, MIN_EXPECTED)
        p = poisson_sf(obs, expected)
        if p < threshold:
            found.append(_hotspot(area, category, obs, expected, own, citywide, p, w))
    found.sort(key=lambda h: (h["p_value"], -h["observed"]))
    return found


def _hotspot(area: str, category: str, obs: int, expected: float, own: float,
             citywide: float, p: float, w: Window) -> dict[str, Any]:
    action = ACTIONS.get(category.split(".", 1)[0], CONSULT)
    return {
        "area": area, "code": area.rsplit("/", 1)[-1], "category": category,
        "observed": obs, "expected": round(expected, 3),
        "ratio": round(obs / expected, 2), "z": round((obs - expected) / math.sqrt(expected), 2),
        "p_value": p, "window": {"from": w.first.isoformat(), "to": w.as_of.isoformat()},
        "baseline": {"own_history": round(own, 3), "citywide": round(citywide, 3),
                     "days": w.baseline_days},
        "suggested_action": {"code": action.code, "zh": action.zh, "en": action.en},
    }


def _area_counts(c: Connection, scope: str, level_depth: int,
                 w: Window) -> dict[tuple[str, str], tuple[int, int]]:
    d = t.daily.c
    recent = d.day >= w.first.isoformat()
    q = (select(d.area, d.category,
                func.sum(case((recent, d.reported), else_=0)),
                func.sum(case((recent, 0), else_=d.reported)))
         .where(d.depth == level_depth, below(d.area, scope),
                d.day >= w.baseline_first.isoformat(), d.day <= w.as_of.isoformat())
         .group_by(d.area, d.category))
    return {(a, cat): (int(obs or 0), int(hist or 0)) for a, cat, obs, hist in c.execute(q)}


def _category_counts(c: Connection, area: str,
                     w: Window) -> tuple[dict[str, int], dict[str, int]]:
    d = t.daily.c
    recent = d.day >= w.first.isoformat()
    q = (select(d.category, func.sum(case((recent, d.reported), else_=0)),
                func.sum(case((recent, 0), else_=d.reported)))
         .where(d.area == area, d.day >= w.baseline_first.isoformat(),
                d.day <= w.as_of.isoformat())
         .group_by(d.category))
    now: dict[str, int] = {}
    hist: dict[str, int] = {}
    for cat, obs, old in c.execute(q):
        now[cat], hist[cat] = int(obs or 0), int(old or 0)
    return now, hist


def _volumes(pairs: dict[tuple[str, str], tuple[int, int]]) -> dict[str, int]:
    """Each area's usual volume (all categories over the baseline period)."""
    out: dict[str, int] = {}
    for (area, _), (_, hist) in pairs.items():
        out[area] = out.get(area, 0) + hist
    return out
