"""The matcher: is a report a new case, a duplicate of an open case, or uncertain?

Candidates come from the index (nearby grids, inside the time window) and must have a
compatible category. Each is described by explainable signals: text similarity (grams
weighted by rarity, channel formulae learnt away, see CaseIndex.weight), the share of the
report's rarest grams (the names: shop, road, estate) found in the case, pinyin pairs
between a Chinese and an English report, distance (for a report without coordinates: to
the outline of the grid or community it was placed in), address numbers that agree or
conflict, category and time apart. A logistic scorer whose coefficients were fitted on
the evaluation set's dev split (bench/dedup_fit.py -> services/dedup/fitted.py) turns
them into the probability that both describe one problem. Every decision carries the
signals of the candidates it looked at.
"""

from __future__ import annotations

import heapq
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely

from services.dedup import fitted
from services.dedup.index import CaseIndex, Entry, ReportFacts, distance_m, names_of
from shared.places.geo import M_PER_DEG

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
PROBE_GRAMS, PROBE_PINYIN = 12, 4
MAX_REPORTS = 12  # a case's latest reports compared (a big file says nothing more)


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
    merge_at: float = fitted.MERGE_AT  # probability of one problem: merge
    review_at: float = fitted.REVIEW_AT  # below merge_at, at or above this: a person decides
    link_at: float = fitted.LINK_AT  # a closed case this likely: linked, flagged to reopen
    ambiguity_margin: float = fitted.AMBIGUITY_MARGIN  # two open cases this close: a person
    max_scored: int = 48  # a report matching dozens: score the most alike this many
    close_m: float = 60.0  # "the same spot" for a report whose text tells nothing
    coefficients: tuple[float, ...] = fitted.COEFFICIENTS  # intercept, then FEATURES


# The scorer's inputs, in the order of `fitted.COEFFICIENTS` after the intercept.
FEATURES = ("text", "contain", "covered", "union", "names", "names_back", "subject",
            "subject_known", "xtext", "near", "text_near",
            "vague", "addr_match", "addr_conflict", "same_category", "generic_category",
            "days")


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
        if not facts.text.usable:
            return self._without_text(facts, self.candidates(facts))
        scored = self.candidates(facts)
        cfg = self.config
        open_ = [c for c in scored if not c.closed]
        closed = [c for c in scored if c.closed]
        if open_ and open_[0].score >= cfg.review_at:
            return self._against_open(open_)
        if closed and closed[0].score >= cfg.link_at:
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
        spot.sort(key=lambda c: (c.signals["distance_m"], c.case_id))
        if spot:
            return Decision("review", spot[0].case_id, "text_unusable", tuple(spot))
        return Decision("new", None, "text_unusable", tuple(scored))

    # -- candidates --------------------------------------------------------------------------

    def candidates(self, facts: ReportFacts) -> list[Candidate]:
        """Compatible cases nearby; when more than `max_scored`, those sharing the most of
        the report's rarest grams and names are scored. Best first, ties by id, so the same
        state always gives the same decision."""
        cfg = self.config
        query = _Query(self.index, facts)
        relations: dict[str, str | None] = {}

        def compatible(category: str) -> bool:
            relations[category] = category_relation(facts.category, category)
            return relations[category] is not None

        grams, located = query.probe, facts.located
        near: list[tuple[int, int, Entry]] = []
        for entry in self.index.nearby(facts, compatible):
            if located and query.beyond(entry, cfg.max_distance_m):
                continue  # certainly too far
            near.append((-len(grams & entry.grams), entry.case_id.int, entry))
        out: list[Candidate] = []
        # Exact distances and scores only for the few that may be scored (ties by id).
        for _, _, entry in _ranked(near, 2 * cfg.max_scored):
            d = query.place_m(entry)
            if d is not None and d > cfg.max_distance_m:
                continue
            relation = relations[entry.category]
            assert relation is not None
            out.append(self._score(query, entry, relation, d))
            if len(out) == cfg.max_scored:
                break
        out.sort(key=lambda c: (-c.score, c.case_id))
        return out

    def _score(self, q: _Query, entry: Entry, relation: str, place: float | None
               ) -> Candidate:
        text = q.compare(entry)
        point = q.point_m(entry)
        since = entry.closed_at or entry.last_at
        hours = abs((q.facts.reported_at - since).total_seconds()) / 3600
        signals: dict[str, Any] = {
            "category": relation,
            "distance_m": round(point, 1) if point is not None else None,
            "place_m": round(place, 1) if place is not None else None,
            "area": _area(q.facts, entry),
            "hours_apart": round(hours, 1),
            **{k: None if v is None else round(v, 3) for k, v in text.items()},
            "address": q.address(entry),
            "reports": len(entry.reports),
        }
        score = probability(features_of(signals, self.config), self.config.coefficients)
        return Candidate(entry.case_id, score, entry.closed, signals)


def features_of(s: dict[str, Any], cfg: MatchConfig) -> list[float]:
    """The scorer's inputs (FEATURES) from a candidate's signals, each in [0, 1]."""
    place = s["place_m"]
    near = 0.0 if place is None else max(0.0, 1.0 - place / cfg.max_distance_m)
    days = math.log1p(s["hours_apart"]) / math.log1p(24 * 30)
    return [s["text"], s["contain"], s["covered"], s["union"], s["names"], s["names_back"],
            s["subject"] or 0.0, float(s["subject"] is not None), s["xtext"], near,
            max(s["text"], s["xtext"]) * near, float(s["distance_m"] is None),
            float(s["address"] == "match"), float(s["address"] == "conflict"),
            float(s["category"] == "same"), float(s["category"] == "generic"),
            min(1.0, days)]


def probability(x: list[float], coefficients: tuple[float, ...]) -> float:
    z = coefficients[0] + sum(c * v for c, v in zip(coefficients[1:], x, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class _Query:
    """One report being decided: its gram weights, computed once for all candidates."""

    def __init__(self, index: CaseIndex, facts: ReportFacts) -> None:
        self.index, self.facts = index, facts
        self.kx = M_PER_DEG * math.cos(math.radians(facts.lat)) if facts.lat is not None else 0.0
        t = facts.text
        self.w, self.wp = index.weigh(facts)
        self.norm = sum(self.w.values())
        self.pnorm = sum(self.wp.values())
        self.names = dict(names_of(self.w))
        # What candidates are first sifted by: the report's rarest grams and pinyin pairs,
        # the name of what is at fault, house numbers (a few set lookups per case, where
        # thousands of cases are near).
        self.probe = frozenset(_heaviest(self.w, PROBE_GRAMS) + _heaviest(self.wp, PROBE_PINYIN)
                               ) | (t.subject & t.grams) | {f"#{a}" for a in t.addresses}
        self.shape = index.shape(facts.partition) if not facts.located else None
        self._outline: dict[str, float | None] = {}  # partition -> metres from this report

    def beyond(self, entry: Entry, metres: float) -> bool:
        """True when every located report of the case lies farther than `metres` from
        this report (by the case's bounding box); False when unsure."""
        a, box = self.facts, entry.box
        if a.lon is None or a.lat is None or box is None:
            return False
        dx = max(box[0] - a.lon, 0.0, a.lon - box[2]) * self.kx
        dy = max(box[1] - a.lat, 0.0, a.lat - box[3]) * M_PER_DEG
        return dx > metres or dy > metres

    def compare(self, entry: Entry) -> dict[str, float | None]:
        a, index = self.facts, self.index
        text = contain = covered = xtext = back = 0.0
        subject: float | None = None
        union: set[str] = set()
        for b in _latest(entry):
            wb = index.weights(b)
            if a.text.subject and b.text.subject:
                agree = len(a.text.subject & b.text.subject) / min(len(a.text.subject),
                                                                   len(b.text.subject))
                subject = max(subject or 0.0, agree)
            if a.text.latin == b.text.latin or not (a.text.pinyin and b.text.pinyin):
                union |= b.text.grams
                cos, ca, cb = self._cosine(a.text.grams & b.text.grams, self.w, self.norm,
                                           wb.grams)
                text, contain, covered = max(text, cos), max(contain, ca), max(covered, cb)
                total = sum(w for _, w in wb.names)
                if total:
                    back = max(back, sum(w for g, w in wb.names if g in a.text.grams) / total)
            else:  # one in Chinese, one in English: the romanised names
                cos, _, _ = self._cosine(a.text.pinyin & b.text.pinyin, self.wp, self.pnorm,
                                         wb.pinyin)
                xtext = max(xtext, cos)
        found = sum(self.w[g] for g in a.text.grams & union) / self.norm if self.norm else 0.0
        names_total = sum(self.names.values())
        names = (sum(w for g, w in self.names.items() if g in union) / names_total
                 if names_total else 0.0)
        return {"text": text, "contain": contain, "covered": covered, "union": found,
                "names": names, "names_back": back, "subject": subject, "xtext": xtext}

    @staticmethod
    def _cosine(shared: frozenset[str], wa: dict[str, float], na: float, nb: float
                ) -> tuple[float, float, float]:
        """(cosine, share of a's weight shared, share of b's weight shared). A shared gram
        weighs what it weighs for the report being decided (b's own signature holds only
        its total: per-gram weights of every indexed report would not fit in memory)."""
        if not shared or na <= 0 or nb <= 0:
            return 0.0, 0.0, 0.0
        both = sum(wa[g] for g in shared)
        return min(1.0, both / math.sqrt(na * nb)), both / na, min(1.0, both / nb)

    def address(self, entry: Entry) -> str:
        """`match` if a report of the case gives the same house number, `conflict` if
        numbers are given on both sides and none agree (two shops on one street)."""
        mine = self.facts.text.addresses
        if not mine:
            return "none"
        out = "none"
        for b in entry.reports.values():
            if b.text.addresses:
                if mine & b.text.addresses:
                    return "match"
                out = "conflict"
        return out

    def point_m(self, entry: Entry) -> float | None:
        """The nearest report of the case, when both sides have coordinates."""
        best: float | None = None
        for r in entry.reports.values():
            d = distance_m(self.facts, r)
            if d is not None and (best is None or d < best):
                best = d
        return best

    def place_m(self, entry: Entry) -> float | None:
        """Distance to the case's nearest report; a side without coordinates counts from
        the outline of the grid or community it was placed in (0 inside)."""
        best: float | None = None
        for r in entry.reports.values():
            d = self._place_m(r)
            if d is not None and (best is None or d < best):
                best = d
        return best

    def _place_m(self, r: ReportFacts) -> float | None:
        a = self.facts
        if r.lon is not None and a.lon is not None:
            return distance_m(a, r)
        if a.lon is not None:
            if r.partition not in self._outline:  # every report of a grid is as far
                shape = self.index.shape(r.partition)
                self._outline[r.partition] = None if shape is None else _to_outline(a, shape)
            d = self._outline[r.partition]
            return _related(a, r) if d is None else d
        if r.partition.startswith(a.partition):  # a report inside this report's place
            return 0.0
        if r.lon is not None and self.shape is not None:
            return _to_outline(r, self.shape)
        return _related(a, r)


def _rank(t: tuple[int, int, Entry]) -> tuple[int, int]:
    return t[0], t[1]


def _ranked(near: list[tuple[int, int, Entry]], k: int) -> Iterator[tuple[int, int, Entry]]:
    """In rank order, sorting everything only if the first `k` do not suffice."""
    first = heapq.nsmallest(k, near, key=_rank)
    yield from first
    if len(first) < len(near):
        yield from sorted(near, key=_rank)[k:]


def _heaviest(w: dict[str, float], n: int) -> list[str]:
    return sorted(w, key=lambda g: (-w[g], g))[:n]


def _latest(entry: Entry) -> list[ReportFacts]:
    reports = list(entry.reports.values())
    return reports[-MAX_REPORTS:]


def _related(a: ReportFacts, b: ReportFacts) -> float | None:
    """Two places in the hierarchy: 0 when one lies within the other, else unknown."""
    pa, pb = a.partition, b.partition
    return 0.0 if pa.startswith(pb) or pb.startswith(pa) else None


def _to_outline(p: ReportFacts, shape: Any) -> float:
    """Metres from a point to a grid or community: 0 inside, else to its bounding box
    (grids are drawn as blocks; the box is a fast and close bound)."""
    assert p.lon is not None and p.lat is not None
    if shapely.contains_xy(shape, p.lon, p.lat):
        return 0.0
    minx, miny, maxx, maxy = shape.bounds
    dx = max(minx - p.lon, 0.0, p.lon - maxx) * M_PER_DEG * math.cos(math.radians(p.lat))
    dy = max(miny - p.lat, 0.0, p.lat - maxy) * M_PER_DEG
    return math.hypot(dx, dy)


def _area(facts: ReportFacts, entry: Entry) -> str:
    if entry.partition == facts.partition:
        return "same_grid"
    if entry.partition.startswith(facts.partition):  # the report is placed above grid level
        return "same_area"
    return "nearby_grid"
