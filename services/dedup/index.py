"""The candidate index: recent open cases and recently closed ones, in memory.

Bounded by a time window (an open case leaves once no report joined it for
`open_window`; a closed one `reopen_window` after closing) and partitioned by grid, so a
search touches only the report's own grid and its neighbours. It holds nothing that is
not in the event log: the application rebuilds it by tailing dedup's own notification
log (see DedupApplication.refresh_index), so a restart loses nothing.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from services.dedup.text import TextFeatures, features
from shared.places.geo import M_PER_DEG
from shared.places.model import Level
from shared.places.registry import PlaceRegistry

GRID_DEPTH = Level.GRID.depth  # index of the grid code in an area path
CHANNEL_PRIOR = 20  # reports a channel needs before its own formulae count as such


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What dedup compares: one report, as intake placed it."""

    case_id: uuid.UUID  # the report's own (provisional) case id
    report_id: uuid.UUID
    channel: str
    category: str
    title: str
    description: str
    lon: float | None
    lat: float | None
    area_path: tuple[str, ...]
    reported_at: datetime
    text: TextFeatures = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", features(self.title, self.description))

    @property
    def located(self) -> bool:
        return self.lon is not None and self.lat is not None

    @property
    def partition(self) -> str:
        return partition_of(self.area_path)


def partition_of(area_path: tuple[str, ...] | list[str]) -> str:
    """The grid when the report was placed in one, else the deepest place known."""
    return area_path[GRID_DEPTH] if len(area_path) > GRID_DEPTH else area_path[-1]


@dataclass(slots=True)
class Entry:
    """One case in the index, with the text features of every report in its file."""

    case_id: uuid.UUID
    category: str
    partition: str
    first_at: datetime
    last_at: datetime
    reports: dict[uuid.UUID, ReportFacts]
    closed_at: datetime | None = None
    # Kept with the file so a search rejects most cases with one set or box operation:
    grams: frozenset[str] = frozenset()  # every report's grams and pinyin pairs together
    box: tuple[float, float, float, float] | None = None  # lon/lat bounds of located reports

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def summarise(self) -> None:
        """Recompute `grams` and `box` from the reports (after one joined or left)."""
        self.grams = frozenset().union(
            *(r.text.grams | r.text.pinyin for r in self.reports.values()))
        xs = [r.lon for r in self.reports.values() if r.lon is not None]
        ys = [r.lat for r in self.reports.values() if r.lat is not None]
        self.box = (min(xs), min(ys), max(xs), max(ys)) if xs and ys else None

    def expires(self, open_window: timedelta, reopen_window: timedelta) -> datetime:
        if self.closed_at is not None:
            return self.closed_at + reopen_window
        return self.last_at + open_window


class Neighbours:
    """Which grids touch which (edges or corners), from the place registry's polygons; and
    the outline of every grid and community, where a report without coordinates lies."""

    def __init__(self, registry: PlaceRegistry) -> None:
        grids = [g for g in registry.by_level(Level.GRID) if g.geometry]
        shapes = [g.shape() for g in grids]
        tree = STRtree(shapes)
        self._map: dict[str, tuple[str, ...]] = {}
        for g, shape in zip(grids, shapes, strict=True):
            hits = tree.query(shapely.buffer(shape, 1e-6), predicate="intersects")
            self._map[g.code] = tuple(sorted(grids[int(i)].code for i in hits))
        self._shapes: dict[str, BaseGeometry] = {}
        for level in (Level.VILLAGE, Level.GRID):
            for p in registry.by_level(level):
                if (shape := p.shape()) is not None:
                    shapely.prepare(shape)
                    self._shapes[p.code] = shape

    def around(self, partition: str) -> tuple[str, ...]:
        """The partition itself and the grids around it (itself only if not a grid)."""
        return self._map.get(partition, (partition,))

    def shape(self, code: str) -> BaseGeometry | None:
        return self._shapes.get(code)


@cache
def demo_neighbours() -> Neighbours:
    from shared.places.demo import load_demo_registry

    return Neighbours(load_demo_registry())


class CaseIndex:
    def __init__(self, open_window: timedelta = timedelta(days=30),
                 reopen_window: timedelta = timedelta(days=30),
                 max_cases: int = 250_000,
                 neighbours: Callable[[str], tuple[str, ...]] | None = None,
                 shapes: Callable[[str], BaseGeometry | None] | None = None,
                 rarity_power: float = 2.0) -> None:
        self.open_window = open_window
        self.reopen_window = reopen_window
        self.max_cases = max_cases
        self.around = neighbours or (lambda p: (p,))
        self.shape = shapes or (lambda _: None)
        self.rarity_power = rarity_power
        # grid -> category -> cases: a search reads only compatible categories nearby.
        self.partitions: dict[str, dict[str, dict[uuid.UUID, Entry]]] = {}
        self.entries: dict[uuid.UUID, Entry] = {}
        self.report_case: dict[uuid.UUID, uuid.UUID] = {}  # report case id -> primary
        # In how many indexed reports each gram occurs: overall and per channel.
        self.df: Counter[str] = Counter()
        self.channel_df: dict[str, Counter[str]] = {}
        self.channel_reports: Counter[str] = Counter()
        self.category_df: dict[str, Counter[str]] = {}
        self.category_reports: Counter[str] = Counter()
        self.reports = 0
        self.position = 0  # the last notification folded in (the application's cursor)
        self.now: datetime | None = None  # the latest report time seen: event time, not wall
        self._swept_at: datetime | None = None
        # Gram weights move slowly with the counts: a report's signature (weight totals,
        # rarest grams) is computed when it is indexed and again only once the index has
        # grown or shrunk by a quarter, not at every decision.
        self._signatures: dict[uuid.UUID, Weights] = {}
        # The signature a decision just computed for its report (`weigh`), taken when
        # that report is indexed next instead of being computed again.
        self._weighed: tuple[uuid.UUID, Weights] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    # -- changes (from the event log) ---------------------------------------------------

    def add_case(self, facts: ReportFacts) -> None:
        if facts.case_id in self.entries:
            return
        entry = Entry(facts.case_id, facts.category, facts.partition, facts.reported_at,
                      facts.reported_at, {})
        self.entries[facts.case_id] = entry
        part = self.partitions.setdefault(entry.partition, {})
        part.setdefault(entry.category, {})[facts.case_id] = entry
        self._attach(entry, facts)

    def add_report(self, case_id: uuid.UUID, facts: ReportFacts) -> None:
        if self.has_report(case_id, facts.case_id):
            return  # the case already left the window, or holds it
        entry = self.entries[case_id]
        self._attach(entry, facts)
        entry.last_at = max(entry.last_at, facts.reported_at)

    def has_report(self, case_id: uuid.UUID, report_case_id: uuid.UUID) -> bool:
        """True when the case is not indexed (left the window) or holds the report."""
        entry = self.entries.get(case_id)
        return entry is None or report_case_id in entry.reports

    def remove_report(self, case_id: uuid.UUID, report_case_id: uuid.UUID) -> None:
        entry = self.entries.get(case_id)
        if entry is not None and report_case_id in entry.reports:
            self._detach(entry.reports.pop(report_case_id))
            entry.summarise()

    def close_case(self, case_id: uuid.UUID, at: datetime) -> None:
        entry = self.entries.get(case_id)
        if entry is not None:
            entry.closed_at = at

    def resolve(self, report_case_id: uuid.UUID) -> uuid.UUID | None:
        return self.report_case.get(report_case_id)

    def _attach(self, entry: Entry, facts: ReportFacts) -> None:
        entry.reports[facts.case_id] = facts
        entry.summarise()
        self.report_case[facts.case_id] = entry.case_id
        self._count(facts, 1)
        weighed, self._weighed = self._weighed, None
        self._signatures[facts.case_id] = (weighed[1] if weighed and weighed[0] == facts.case_id
                                           else self._signature(facts))
        self._advance(facts.reported_at)

    def _detach(self, facts: ReportFacts) -> None:
        self.report_case.pop(facts.case_id, None)
        self._signatures.pop(facts.case_id, None)
        self._count(facts, -1)

    def _count(self, facts: ReportFacts, sign: int) -> None:
        grams = facts.text.grams | facts.text.pinyin | facts.text.chars
        channel = self.channel_df.setdefault(facts.channel, Counter())
        category = self.category_df.setdefault(facts.category, Counter())
        for counter in (self.df, channel, category):
            if sign > 0:
                counter.update(grams)  # counted in C: a report has a few hundred grams
                continue
            for g in grams:
                n = counter[g] + sign
                if n > 0:
                    counter[g] = n
                else:
                    del counter[g]
        self.channel_reports[facts.channel] += sign
        self.category_reports[facts.category] += sign
        self.reports += sign

    # -- bounds ----------------------------------------------------------------------------

    def _advance(self, at: datetime) -> None:
        if self.now is None or at > self.now:
            self.now = at
        if self._swept_at is None:
            self._swept_at = at
        # A sweep walks every entry: once a day of event time (or when over the bound).
        if self.now - self._swept_at >= timedelta(days=1) or len(self) > self.max_cases:
            self.sweep()

    def sweep(self) -> int:
        """Drop what left the time window, then the oldest beyond `max_cases`."""
        if self.now is None:
            return 0
        self._swept_at = self.now
        gone = [e for e in self.entries.values()
                if e.expires(self.open_window, self.reopen_window) < self.now]
        excess = len(self.entries) - len(gone) - self.max_cases
        if excess > 0:
            leaving = {e.case_id for e in gone}
            keep = sorted((e for e in self.entries.values() if e.case_id not in leaving),
                          key=lambda e: (e.last_at, e.case_id))
            gone += keep[:excess]
        for e in gone:
            self._evict(e)
        self._refresh_signatures()
        return len(gone)

    def _refresh_signatures(self) -> None:
        """Signatures computed when the index was a quarter smaller or larger: again, here
        (once a day of event time) rather than on the first decision that needs them."""
        for entry in self.entries.values():
            for facts in entry.reports.values():
                self.weights(facts)

    def _evict(self, entry: Entry) -> None:
        del self.entries[entry.case_id]
        part = self.partitions[entry.partition]
        bucket = part[entry.category]
        del bucket[entry.case_id]
        if not bucket:
            del part[entry.category]
        if not part:
            del self.partitions[entry.partition]
        for facts in entry.reports.values():
            self._detach(facts)

    # -- search ------------------------------------------------------------------------------

    def nearby(self, facts: ReportFacts,
               compatible: Callable[[str], bool] = lambda _: True) -> Iterator[Entry]:
        """Cases of a compatible category in the report's grid and the grids around it, and
        cases placed only to those grids' communities (or, for a report placed above grid
        level, every partition below its place), still inside their window."""
        at, window = facts.reported_at, self.open_window
        for bucket in self.buckets(facts, compatible):
            for entry in bucket:
                if entry.closed_at is None:  # _in_window, inline: this loop is the hot one
                    if at - entry.last_at <= window and entry.first_at - at <= window:
                        yield entry
                elif abs(at - entry.closed_at) <= self.reopen_window:
                    yield entry

    def buckets(self, facts: ReportFacts, compatible: Callable[[str], bool]
                ) -> Iterator[Iterable[Entry]]:
        partition = facts.partition
        if len(facts.area_path) > GRID_DEPTH:
            grids = self.around(partition)
            n = len(facts.area_path[GRID_DEPTH - 1])  # codes nest: a grid's starts with its
            keys: tuple[str, ...] | list[str] = (*grids, *sorted({g[:n] for g in grids}))
        else:
            keys = sorted(k for k in self.partitions if k.startswith(partition))
        for key in keys:
            for category, bucket in self.partitions.get(key, {}).items():
                if compatible(category):
                    yield bucket.values()

    def _in_window(self, entry: Entry, at: datetime) -> bool:
        if entry.closed_at is not None:
            return abs(at - entry.closed_at) <= self.reopen_window
        return at - entry.last_at <= self.open_window and entry.first_at - at <= self.open_window

    def weight(self, gram: str, channel: str, category: str) -> float:
        """How much sharing `gram` says, for a report from `channel` filed under
        `category`. Rare grams say much; grams common among reports of the same category
        say little (油烟, 直排 in oily-smoke reports: how such complaints are told, not
        which restaurant); grams most of the channel's own reports carry (its formula:
        来电反映, 诉求, 已拍照取证 ...) say nothing. Learnt from the indexed reports, not from
        a list of formulae or names."""
        return self._weigher(channel, category)(gram)

    def _weigher(self, channel: str, category: str) -> Callable[[str], float]:
        """`weight` for one report's channel and category, the counts as they are now:
        its constants looked up once, and each gram's rarity (inverse document frequency,
        overall and among reports of the same category) computed once, where a character
        is asked for once per bigram it is part of. A decision weighs a hundred grams."""
        log, sqrt, power = math.log, math.sqrt, self.rarity_power
        n = self.channel_reports.get(channel, 0)
        channel_df = self.channel_df[channel] if n else Counter[str]()
        prior = n + CHANNEL_PRIOR
        reports, df = self.reports + 1, self.df
        m = self.category_reports.get(category, 0)
        category_df = self.category_df[category] if m else None
        memo: dict[str, float] = {}

        def rarity(gram: str) -> float:
            known = memo.get(gram)
            if known is None:
                known = log(reports / (df.get(gram, 0) + 1)) + 1.0
                if category_df is not None:
                    known = sqrt(known * (log((m + 1) / (category_df.get(gram, 0) + 1)) + 1.0))
                memo[gram] = known
            return known

        def weight(gram: str) -> float:
            r = rarity(gram)
            if len(gram) == 2 and gram[0] not in "#:":  # two Chinese characters
                # No rarer than its rarer character: a bigram across the seam of two
                # phrases (街阿 in 龙桥街阿强) is rare only by combination and names nothing.
                r = min(r, max(rarity(gram[0]), rarity(gram[1])))
            share = channel_df.get(gram, 0) / prior
            return r ** power * max(0.0, 1.0 - share)

        return weight

    def weights(self, facts: ReportFacts) -> Weights:
        """A report's signature: total gram weight (characters/words, and pinyin) and its
        rarest grams (most often a name)."""
        cached = self._signatures.get(facts.case_id)
        if cached is not None and abs(self.reports - cached.reports) <= cached.reports / 4:
            return cached
        out = self._signature(facts)
        if facts.case_id in self.report_case:  # only indexed reports are kept
            self._signatures[facts.case_id] = out
        return out

    def weigh(self, facts: ReportFacts) -> tuple[dict[str, float], dict[str, float]]:
        """A report's gram and pinyin weights, for deciding it; its signature is kept for
        when it is indexed (its own counts then added move the weights far less than the
        quarter a signature is kept for anyway)."""
        w, wp = self._gram_weights(facts)
        self._weighed = (facts.case_id, self._summary(w, wp))
        return w, wp

    def _signature(self, facts: ReportFacts) -> Weights:
        return self._summary(*self._gram_weights(facts))

    def _gram_weights(self, facts: ReportFacts) -> tuple[dict[str, float], dict[str, float]]:
        weigh = self._weigher(facts.channel, facts.category)
        return ({g: weigh(g) for g in facts.text.grams},
                {g: weigh(g) for g in facts.text.pinyin})

    def _summary(self, w: dict[str, float], wp: dict[str, float]) -> Weights:
        return Weights(self.reports, sum(w.values()), sum(wp.values()), names_of(w))


NAME_GRAMS = 4  # a report's rarest grams: most often the name of what is at fault


@dataclass(frozen=True, slots=True)
class Weights:
    reports: int  # the index's size when computed
    grams: float
    pinyin: float
    names: tuple[tuple[str, float], ...]


def names_of(w: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """The heaviest grams, house numbers aside (they are compared on their own)."""
    named = sorted((g for g in w if not g.startswith("#")), key=lambda g: (-w[g], g))
    return tuple((g, w[g]) for g in named[:NAME_GRAMS])


def distance_m(a: ReportFacts, b: ReportFacts) -> float | None:
    if a.lon is None or a.lat is None or b.lon is None or b.lat is None:
        return None
    kx = M_PER_DEG * math.cos(math.radians((a.lat + b.lat) / 2))
    return math.hypot((a.lon - b.lon) * kx, (a.lat - b.lat) * M_PER_DEG)
