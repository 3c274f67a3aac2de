"""Deterministic demo city 莆阳市 (Puyang, 350300), a fictional city laid out like Putian.

Every level is a rectangle split into smaller rectangles, so the demo tiles exactly
(不重叠、无死角). Split points are rounded to 6 decimals *before* they are shared by the
neighbours on both sides, so adjacent polygons reuse identical coordinates and the
validator sees no slivers.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path

from .geo import M_PER_DEG
from .model import Level, Place, PolygonGeometry, Registry
from .registry import PlaceRegistry, save_registry

CITY_CODE = "350300"
CITY_BOX = (118.90, 25.30, 119.20, 25.50)  # lon0, lat0, lon1, lat1
SEED = 350300
ND = 6  # ≈ 0.1 m; keeps the committed file small

# District: code, zh, en, rectangle as fractions of the city box (fx0, fy0, fx1, fy1).
DISTRICTS = (
    ("350302", "城厢区", "Chengxiang District", (0.34, 0.0, 0.62, 0.5)),
    ("350303", "涵江区", "Hanjiang District", (0.34, 0.5, 0.70, 1.0)),
    ("350304", "荔城区", "Licheng District", (0.70, 0.5, 1.0, 1.0)),
    ("350305", "秀屿区", "Xiuyu District", (0.62, 0.0, 1.0, 0.5)),
    ("350322", "仙游县", "Xianyou County", (0.0, 0.0, 0.34, 1.0)),
)

# Towns per district: (pinyin stem, zh stem, is a street 街道). Streets take codes 001..,
# towns 100.., as in the real statistical codes.
TOWNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "350302": (("Longqiao", "龙桥", True), ("Fenghuangshan", "凤凰山", True),
               ("Huating", "华亭", False)),
    "350303": (("Handong", "涵东", True), ("Hanxi", "涵西", True),
               ("Jiangkou", "江口", False), ("Wutang", "梧塘", False)),
    "350304": (("Zhenhai", "镇海", True), ("Gongchen", "拱辰", True),
               ("Xitianwei", "西天尾", False), ("Huangshi", "黄石", False)),
    "350305": (("Hushi", "笏石", False), ("Dongzhuang", "东庄", False),
               ("Yuetang", "月塘", False)),
    "350322": (("Licheng", "鲤城", True), ("Linan", "鲤南", False),
               ("Bangtou", "榜头", False), ("Fengting", "枫亭", False)),
}

VILLAGE_STEMS = (
    ("Dongyuan", "东园"), ("Xiyuan", "西园"), ("Nanmen", "南门"), ("Beimen", "北门"),
    ("Fengshan", "凤山"), ("Longquan", "龙泉"), ("Liyuan", "荔园"), ("Meifeng", "梅峰"),
    ("Shishi", "石室"), ("Yanshou", "延寿"), ("Jinjiang", "锦江"), ("Xitou", "溪头"),
    ("Houhuang", "后黄"), ("Yangwei", "洋尾"), ("Xiazheng", "下郑"), ("Bantou", "坂头"),
    ("Dongyang", "东阳"), ("Ninghai", "宁海"), ("Zhenqian", "镇前"), ("Daitou", "埭头"),
    ("Shaban", "沙坂"), ("Qianqin", "前沁"), ("Tangbei", "塘北"), ("Xintang", "新塘"),
    ("Houzhuo", "后卓"), ("Linfeng", "林峰"), ("Shanbing", "山柄"), ("Dutang", "杜塘"),
    ("Chengzhu", "澄渚"), ("Haopu", "濠浦"), ("Huangxia", "黄霞"), ("Wujiang", "吴江"),
    ("Donghu", "洞湖"), ("Wuzi", "梧梓"), ("Xiushan", "秀山"), ("Qunshan", "囷山"),
    ("Yuhu", "玉湖"), ("Liuqiao", "柳桥"), ("Tangpo", "棠坡"), ("Wenfeng", "文峰"),
    ("Cangbian", "仓边"), ("Yinglong", "英龙"), ("Baitang", "白塘"), ("Tianzhong", "田中"),
    ("Xinan", "溪南"), ("Lingxia", "岭下"), ("Shanglin", "上林"), ("Fenglin", "枫林"),
    ("Lishan", "鲤山"), ("Zixia", "紫霞"), ("Qingxi", "清溪"), ("Gushan", "古山"),
    ("Jinqiao", "金桥"), ("Nancheng", "南埕"), ("Bei'an", "北岸"), ("Hushan", "湖山"),
    ("Ruiyun", "瑞云"), ("Shufeng", "书峰"), ("Guishan", "龟山"), ("Shuangpai", "霜拍"),
    ("Yangqian", "洋前"), ("Chidong", "赤东"), ("Xiaban", "下坂"), ("Houyang", "后洋"),
    ("Shangzheng", "上郑"), ("Dingzhuang", "顶庄"), ("Xiating", "霞亭"), ("Pingtou", "坪头"),
)

GRID_SIDE_M = {True: 900.0, False: 1500.0}  # street (urban) grids are denser than rural ones
FOOTPRINT_M = (24.0, 16.0)  # a typical slab building, width × depth


@dataclass(frozen=True, slots=True)
class Box:
    """A lon/lat rectangle; edges are shared verbatim between neighbours."""

    x0: float
    y0: float
    x1: float
    y1: float

    def polygon(self) -> PolygonGeometry:
        ring = ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1),
                (self.x0, self.y1), (self.x0, self.y0))
        return PolygonGeometry(coordinates=(ring,))

    def size_m(self) -> tuple[float, float]:
        kx = M_PER_DEG * math.cos(math.radians((self.y0 + self.y1) / 2))
        return (self.x1 - self.x0) * kx, (self.y1 - self.y0) * M_PER_DEG

    def sub(self, fx0: float, fy0: float, fx1: float, fy1: float) -> Box:
        return Box(_lerp(self.x0, self.x1, fx0), _lerp(self.y0, self.y1, fy0),
                   _lerp(self.x0, self.x1, fx1), _lerp(self.y0, self.y1, fy1))

    def split_long_axis(self, fractions: list[float]) -> list[Box]:
        """Slices along the longer side (west→east or north→south), shared cut lines."""
        w, h = self.size_m()
        cuts = _cuts(fractions)
        if w >= h:
            return [self.sub(a, 0, b, 1) for a, b in itertools.pairwise(cuts)]
        return [self.sub(0, 1 - b, 1, 1 - a) for a, b in itertools.pairwise(cuts)]

    def cells(self, rows: int, cols: int) -> list[Box]:
        """Row-major from the north-west corner, the way grids are numbered on a map."""
        xs = _cuts([1.0] * cols)
        ys = _cuts([1.0] * rows)
        return [self.sub(xs[c], 1 - ys[r + 1], xs[c + 1], 1 - ys[r])
                for r in range(rows) for c in range(cols)]


def _lerp(a: float, b: float, f: float) -> float:
    # Endpoints are returned untouched so a child's outer edge is its parent's edge exactly.
    if f <= 0:
        return a
    if f >= 1:
        return b
    return round(a + (b - a) * f, ND)


def _cuts(weights: list[float]) -> list[float]:
    total = sum(weights)
    acc, out = 0.0, [0.0]
    for w in weights[:-1]:
        acc += w
        out.append(acc / total)
    return [*out, 1.0]


def _town_code(district: str, streets: int, towns: int, is_street: bool) -> str:
    return f"{district}{streets + 1:03d}" if is_street else f"{district}{100 + towns:03d}"


class _Builder:
    def __init__(self, rng: random.Random, detail: int) -> None:
        self.rng = rng
        # Units draw from their own stream so `detail` never changes the towns and villages.
        self.unit_rng = random.Random(rng.random())
        self.detail = detail
        self.places: list[Place] = []
        self.stems = iter(VILLAGE_STEMS)

    def add(self, code: str, level: Level, zh: str, en: str, parent: str | None,
            box: Box | None) -> None:
        geometry = None if box is None else box.polygon()
        self.places.append(Place(code=code, level=level, name_zh=zh, name_en=en,
                                 parent_code=parent, geometry=geometry))

    def town(self, district: str, code: str, stem: tuple[str, str, bool], box: Box) -> None:
        en, zh, is_street = stem
        self.add(code, Level.TOWN, zh + ("街道" if is_street else "镇"),
                 en + (" Subdistrict" if is_street else " Town"), district, box)
        n = self.rng.choice((3, 3, 4))
        boxes = box.split_long_axis([self.rng.uniform(0.7, 1.3) for _ in range(n)])
        for k, vbox in enumerate(boxes):
            # A town's seat is a 社区 (001); its rural villages are 村 coded from 200.
            community = is_street or k == 0
            vcode = f"{code}{k + 1:03d}" if community else f"{code}{199 + k:03d}"
            self.village(code, vcode, community, vbox, GRID_SIDE_M[is_street])

    def village(self, town: str, code: str, community: bool, box: Box, side_m: float) -> None:
        stem = next(self.stems, None)
        if stem is None:
            raise ValueError("VILLAGE_STEMS has fewer names than the demo has villages")
        en, zh = stem
        self.add(code, Level.VILLAGE, zh + ("社区" if community else "村"),
                 en + (" Community" if community else " Village"), town, box)
        w, h = box.size_m()
        rows = max(2, min(5, round(h / side_m))) * self.detail
        cols = max(2, min(5, round(w / side_m))) * self.detail
        self.grids(code, box.cells(rows, cols))

    def grids(self, village: str, cells: list[Box]) -> None:
        for n, cell in enumerate(cells, start=1):
            gcode = f"{village}{n:03d}"
            self.add(gcode, Level.GRID, f"第{n}网格", f"Grid {n}", village, cell)
            self.units(gcode, cell)

    def units(self, grid: str, cell: Box, count: int | None = None) -> None:
        # Distinct quadrants keep footprints apart and well inside the grid.
        rng = self.unit_rng
        k = count if count is not None else rng.randint(2, 4)
        quads = rng.sample([(0, 0), (1, 0), (0, 1), (1, 1)], k)
        w_m, h_m = cell.size_m()
        fw = FOOTPRINT_M[0] / w_m * (cell.x1 - cell.x0)
        fh = FOOTPRINT_M[1] / h_m * (cell.y1 - cell.y0)
        for n, (qx, qy) in enumerate(quads, start=1):
            fx = (qx + 0.5 + rng.uniform(-0.25, 0.25)) / 2
            fy = (qy + 0.5 + rng.uniform(-0.25, 0.25)) / 2
            lon = round(cell.x0 + fx * (cell.x1 - cell.x0), ND)
            lat = round(cell.y0 + fy * (cell.y1 - cell.y0), ND)
            footprint = Box(round(lon - fw / 2, ND), round(lat - fh / 2, ND),
                            round(lon + fw / 2, ND), round(lat + fh / 2, ND))
            self.places.append(Place(
                code=f"{grid}{n:03d}", level=Level.UNIT, name_zh=f"{n}号楼",
                name_en=f"Building {n}", parent_code=grid, point=(lon, lat),
                geometry=footprint.polygon(),
            ))


def build_demo(small: bool = False, *, detail: int = 1) -> Registry:
    """The demo city. `small`: 1 district, 1 town, 1 village, 4 grids, 8 units.

    `detail` multiplies grid rows and columns per village (detail=3 gives ~4,300 grids, for
    load and speed checks at Putian's real scale of 2,408 grids).
    """
    rng = random.Random(SEED)
    b = _Builder(rng, detail)
    if small:
        return _small(b)
    city = Box(*CITY_BOX)
    b.add(CITY_CODE, Level.CITY, "莆阳市", "Puyang City", None, city)
    for dcode, zh, en, frac in DISTRICTS:
        dbox = city.sub(*frac)
        b.add(dcode, Level.DISTRICT, zh, en, CITY_CODE, dbox)
        stems = TOWNS[dcode]
        boxes = dbox.split_long_axis([rng.uniform(0.8, 1.2) for _ in stems])
        streets = towns = 0
        for stem, tbox in zip(stems, boxes, strict=True):
            b.town(dcode, _town_code(dcode, streets, towns, stem[2]), stem, tbox)
            streets, towns = streets + stem[2], towns + (not stem[2])
    return Registry(places=tuple(b.places))


def _small(b: _Builder) -> Registry:
    # Levels above the village have no boundary here: shows that geometry is optional there.
    b.add(CITY_CODE, Level.CITY, "莆阳市", "Puyang City", None, None)
    b.add("350302", Level.DISTRICT, "城厢区", "Chengxiang District", CITY_CODE, None)
    b.add("350302001", Level.TOWN, "龙桥街道", "Longqiao Subdistrict", "350302", None)
    box = Box(119.000, 25.430, 119.012, 25.440)
    b.add("350302001001", Level.VILLAGE, "东园社区", "Dongyuan Community", "350302001", box)
    for n, cell in enumerate(box.cells(2, 2), start=1):
        gcode = f"350302001001{n:03d}"
        b.add(gcode, Level.GRID, f"第{n}网格", f"Grid {n}", "350302001001", cell)
        b.units(gcode, cell, count=2)
    return Registry(places=tuple(b.places))


def demo_data_path() -> Path:
    return Path(__file__).with_name("data") / "demo_city.geojson"


def write_demo_file(path: str | Path | None = None) -> Path:
    """Regenerate the committed demo file (python -m shared.places demo <path>)."""
    out = Path(path) if path is not None else demo_data_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_registry(build_demo(), out, ndigits=ND)
    return out


@functools.cache
def load_demo_registry() -> PlaceRegistry:
    """The committed full demo city, read once on first use."""
    return PlaceRegistry.load(demo_data_path())


@functools.cache
def small_demo_registry() -> PlaceRegistry:
    return PlaceRegistry.from_registry(build_demo(small=True))
