"""The matcher: is a report a new case, a duplicate of an open case, or uncertain?

Candidates come from the index (nearby grids, inside the time window) and must have a
compatible category. Each is scored from explainable signals: text similarity (IDF-weighted
character n-grams, and rapidfuzz's alignment for typos and reordering), distance, time
apart, category, and address numbers that agree or conflict. Every decision carries the
signals of the candidates it looked at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import fuzz

from services.dedup.index import CaseIndex, Entry, ReportFacts, distance_m

Outcome = Literal["new", "merge", "review", "link"]

# Categories that different channels use for one problem (a hotline operator files the
# smoky restaurant under hygiene, the grid worker under oily smoke). Same topic is always
# compatible; a petition's generic category is compatible with everything.
CROSS_TOPIC = (
    ("environment.oily_smoke", "food.restaurant_hygiene"),
    ("environment.noise", "dispute.neighbour"),
    ("environment.noise", "order.fight"),
    ("urban.street_vendor", "food.unlicensed"),
    ("urban.garbage", "environment.illegal_dumping"),
    ("urban.bulky_item", "environment.illegal_dumping"),
    ("safety.ebike_charging", "fire.blocked_exit"),
    ("safety.ebike_charging", "fire.equipment"),
    ("safety.construction", "urban.road_damage"),
    ("safety.construction", "environment.noise"),
)
_CROSS = {frozenset(p) for p in CROSS_TOPIC}
ANY_CATEGORY = ("petition.general",)


def category_relation(a: str, b: str) -> str | None:
    if a == b:
        return "same"
    if a.split(".")[0] == b.split(".")[0] or frozenset((a, b)) in _CROSS:
        return "compatible"
    if a in ANY_CATEGORY or b in ANY_CATEGORY:
        return "generic"
    return None


@dataclass(frozen=True)
class MatchConfig:
    max_distance_m: float = 500.0  # beyond: not the same spot, whatever the text says
    merge_at: float = 0.62
    review_at: float = 0.42
    ambiguity_margin: float = 0.04  # two open cases this close at the top: a person decides
    max_scored: int = 48  # a report matching dozens: score the nearest this many
    close_m: float = 60.0  # "the same spot" for a report whose text tells nothing
    # Weights of `combine` (chosen on the dev split, see docs/dedup-evaluation.md).
    w_text: float = 0.75
    w_place: float = 0.25
    fuzzy_share: float = 0.85
    same_category: float = 0.05
    address_match: float = 0.10
    address_conflict: float = 0.25
    unknown_same_grid: float = 0.5  # proximity when one side has no coordinates
    unknown_same_area: float = 0.3
    rarity_power: float = 2.0  # gram weight = idf ** this: higher favours names over phrases


@dataclass(frozen=True)
class Candidate:
    case_id: uuid.UUID
    score: float
    closed: bool
    signals: dict[str, Any]

    def explain(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "score": round(self.score, 3),
                "closed": self.closed, "signals": self.signals}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    case_id: uuid.UUID | None  # merge: the primary; link: the closed case; review: best guess
    reason: str
    candidates: tuple[Candidate, ...] = field(default=())

    def explanation(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason,
                "case_id": str(self.case_id) if self.case_id else None,
                "candidates": [c.explain() for c in self.candidates[:5]]}


class Matcher:
    def __init__(self, index: CaseIndex, config: MatchConfig | None = None) -> None:
        self.index = index
        self.config = config or MatchConfig()

    def decide(self, facts: ReportFacts) -> Decision:
        scored = self.candidates(facts)
        if not facts.text.usable:
            return self._without_text(facts, scored)
        open_ = [c for c in scored if not c.closed]
        closed = [c for c in scored if c.closed]
        if open_ and open_[0].score >= self.config.review_at:
            return self._against_open(open_)
        if closed and closed[0].score >= self.config.merge_at:
            return Decision("link", closed[0].case_id, "repeat_after_close", tuple(scored))
        return Decision("new", None, "no_candidate" if not scored else "below_threshold",
                        tuple(scored))

    def _against_open(self, open_: list[Candidate]) -> Decision:
        best = open_[0]
        cfg = self.config
        if best.score < cfg.merge_at:
            return Decision("review", best.case_id, "uncertain", tuple(open_))
        if len(open_) > 1 and best.score - open_[1].score < cfg.ambiguity_margin:
            return Decision("review", best.case_id, "ambiguous", tuple(open_))
        if best.signals["address"] == "conflict":
            return Decision("review", best.case_id, "address_conflict", tuple(open_))
        return Decision("merge", best.case_id, "duplicate", tuple(open_))

    def _without_text(self, facts: ReportFacts, scored: list[Candidate]) -> Decision:
        """Empty, one-character or garbage text: never merged on place alone. A case of the
        same category on the very spot goes to a person; otherwise a new case."""
        spot = [c for c in scored if not c.closed and c.signals["category"] == "same"
                and c.signals["distance_m"] is not None
                and c.signals["distance_m"] <= self.config.close_m]
        if spot:
            return Decision("review", spot[0].case_id, "text_unusable", tuple(spot))
        return Decision("new", None, "text_unusable", tuple(scored))

    # -- scoring ------------------------------------------------------------------------------

    def candidates(self, facts: ReportFacts) -> list[Candidate]:
        """Compatible nearby cases, the nearest `max_scored` scored, best first (ties by id,
        so the same state always gives the same decision)."""
        near: list[tuple[float, uuid.UUID, Entry, str, float | None]] = []
        relations: dict[str, str | None] = {}

        def compatible(category: str) -> bool:
            relations[category] = category_relation(facts.category, category)
            return relations[category] is not None

        for entry in self.index.nearby(facts, compatible):
            relation = relations[entry.category]
            assert relation is not None
            d = _nearest(facts, entry)
            if d is not None and d > self.config.max_distance_m:
                continue
            near.append((d if d is not None else self.config.max_distance_m, entry.case_id,
                         entry, relation, d))
        near.sort(key=lambda t: (t[0], t[1]))
        out = [self._score(facts, entry, relation, d)
               for _, _, entry, relation, d in near[: self.config.max_scored]]
        out.sort(key=lambda c: (-c.score, c.case_id))
        return out

    def _score(self, facts: ReportFacts, entry: Entry, relation: str,
               d: float | None) -> Candidate:
        text, fuzzy, address = 0.0, 0.0, "none"
        for other in entry.reports.values():
            text = max(text, self.cosine(facts, other))
            fuzzy = max(fuzzy, _fuzzy(facts, other))
            address = _address(address, facts, other)
        hours = abs((facts.reported_at - entry.last_at).total_seconds()) / 3600
        signals: dict[str, Any] = {
            "category": relation,
            "distance_m": round(d, 1) if d is not None else None,
            "area": _area(facts, entry),
            "hours_apart": round(hours, 1),
            "text": round(text, 3),
            "fuzzy": round(fuzzy, 3),
            "address": address,
            "reports": len(entry.reports),
        }
        return Candidate(entry.case_id, combine(signals, self.config), entry.closed, signals)

    def cosine(self, a: ReportFacts, b: ReportFacts) -> float:
        """Cosine of the IDF-weighted gram sets: rare shared grams (a shop's name) count,
        grams every report has (油烟, 扰民) hardly do."""
        ga, gb = a.text.grams, b.text.grams
        if not ga or not gb:
            return 0.0
        idf, k = self.index.idf, self.config.rarity_power
        shared = sum(idf(g) ** k for g in ga & gb)
        if shared == 0:
            return 0.0
        na = sum(idf(g) ** k for g in ga)
        nb = sum(idf(g) ** k for g in gb)
        # Between cosine (both texts alike) and overlap (the short one inside the long):
        # a terse grid-app note and a long petition about one restaurant share its name.
        return float(shared / (na * nb) ** 0.5 + shared / min(na, nb)) / 2


def combine(s: dict[str, Any], cfg: MatchConfig) -> float:
    """One score from the signals; the weights are documented in docs/dedup-evaluation.md."""
    text = max(s["text"], cfg.fuzzy_share * s["fuzzy"])
    d = s["distance_m"]
    if d is None:  # one side has no coordinates: only the place in the hierarchy is known
        proximity = {"same_grid": cfg.unknown_same_grid,
                     "same_area": cfg.unknown_same_area}.get(s["area"], 0.0)
    else:
        proximity = max(0.0, 1.0 - d / cfg.max_distance_m)
    score = cfg.w_text * text + cfg.w_place * proximity
    if s["category"] == "same":
        score += cfg.same_category
    if s["address"] == "match":
        score += cfg.address_match
    elif s["address"] == "conflict":
        score -= cfg.address_conflict
    if s["hours_apart"] > 24 * 7:  # a week or more after the case's last report
        score -= 0.05
    return max(0.0, min(1.0, score))


def _area(facts: ReportFacts, entry: Entry) -> str:
    if entry.partition == facts.partition:
        return "same_grid"
    if entry.partition.startswith(facts.partition):  # the report is placed above grid level
        return "same_area"
    return "nearby_grid"


def _nearest(facts: ReportFacts, entry: Entry) -> float | None:
    best: float | None = None
    for r in entry.reports.values():
        d = distance_m(facts, r)
        if d is not None and (best is None or d < best):
            best = d
    return best


def _fuzzy(a: ReportFacts, b: ReportFacts) -> float:
    """rapidfuzz's best partial alignment: a short report inside a long one, typos."""
    pa, pb = a.text.plain[:200], b.text.plain[:200]
    if len(pa) < 4 or len(pb) < 4:
        return 0.0
    return float(fuzz.token_sort_ratio(pa, pb) / 100)


def _address(current: str, a: ReportFacts, b: ReportFacts) -> str:
    """`match` if the reports share a house number, `conflict` if both give numbers and
    none agree (two shops on one street); a match anywhere in the file wins."""
    if current == "match":
        return current
    xa, xb = a.text.addresses, b.text.addresses
    if not xa or not xb:
        return current
    return "match" if xa & xb else "conflict"
