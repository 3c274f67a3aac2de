"""Generate the labelled dedup evaluation set (deterministic; see docs/dedup-evaluation.md).

    .venv/bin/python -m bench.data.dedup_eval.generate   # rewrites dev.jsonl and test.jsonl

Each line is a report (with its true incident, `cluster`) or the closing of an incident's
case, in time order. Incidents are placed on real units of the demo city; reports come
from different channels in each channel's own style, with paraphrase, typos, geocoding
error and missing coordinates; hard negatives are planted on purpose (another restaurant
on the same street, the same problem months later, a repeat soon after closing).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.places.demo import load_demo_registry
from shared.places.geo import M_PER_DEG
from shared.places.model import Level
from shared.places.registry import PlaceRegistry

HERE = Path(__file__).parent
SETS = {"dev": (20260101, 160), "test": (20260202, 320)}  # seed, incidents
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NAMESPACE = uuid.UUID("8d7f3a10-2c4e-4b5a-9f60-7e1d2c3b4a59")

STREETS = (
    ("文献路", "Wenxian Road"), ("胜利路", "Shengli Road"), ("梅园路", "Meiyuan Road"),
    ("荔城大道", "Licheng Avenue"), ("八二一街", "Bayiyi Street"), ("东园路", "Dongyuan Road"),
    ("学园路", "Xueyuan Road"), ("天妃路", "Tianfei Road"), ("延寿街", "Yanshou Street"),
    ("拱辰路", "Gongchen Road"), ("镇海街", "Zhenhai Street"), ("凤山路", "Fengshan Road"),
    ("龙桥街", "Longqiao Street"), ("涵华路", "Hanhua Road"), ("霞林街", "Xialin Street"),
    ("荔园路", "Liyuan Road"), ("沟头街", "Goutou Street"), ("北大路", "Beida Road"),
)


@dataclass(frozen=True)
class Problem:
    category: str
    alt_category: str  # what another channel may file it under
    entities: tuple[tuple[str, str], ...]  # (zh, en) names of the thing at fault
    zh: tuple[str, ...]  # problem phrases, {e} = entity
    zh_impact: tuple[str, ...]
    en: tuple[str, ...]
    title_zh: tuple[str, ...]
    title_en: str


SHOPS = (("老王", "Lao Wang"), ("阿强", "Aqiang"), ("张记", "Zhang's"), ("林家", "Lin's"),
         ("陈记", "Chen's"), ("福满", "Fuman"), ("好运来", "Haoyunlai"), ("兴化", "Xinghua"),
         ("湘里", "Xiangli"), ("蜀香", "Shuxiang"), ("金龙", "Jinlong"), ("鑫鑫", "Xinxin"),
         ("海港", "Haigang"), ("阿明", "Aming"), ("红姐", "Sister Hong"), ("老地方", "Laodifang"))
ESTATES = (("凤山", "Fengshan"), ("梅峰", "Meifeng"), ("锦江", "Jinjiang"), ("荔园", "Liyuan"),
           ("东园", "Dongyuan"), ("延寿", "Yanshou"), ("龙泉", "Longquan"), ("文峰", "Wenfeng"),
           ("金桥", "Jinqiao"), ("紫霞", "Zixia"), ("清溪", "Qingxi"), ("书峰", "Shufeng"))
SPOTS = (("公交站旁", "the bus stop"), ("十字路口", "the crossroads"),
         ("人行天桥下", "the footbridge"), ("学校门口", "the school gate"),
         ("医院门口", "the hospital gate"), ("加油站旁", "the petrol station"),
         ("菜市场门口", "the wet market"), ("公园入口", "the park entrance"),
         ("银行门口", "the bank"), ("地铁口", "the metro exit"))
ESTATE_KINDS = (("小区", "Estate"), ("花园", "Garden"), ("苑", "Court"), ("新村", "New Village"))


def _names(prefixes: tuple[tuple[str, str], ...], kinds: tuple[tuple[str, str], ...]
           ) -> tuple[tuple[str, str], ...]:
    """Every prefix with every kind: a city has many restaurants, a few share a street."""
    return tuple((pz + kz, f"{pe} {ke}") for pz, pe in prefixes for kz, ke in kinds)


RESTAURANTS = _names(SHOPS, (("烧烤", "BBQ"), ("小炒", "Stir-fry"), ("大排档", "Food Stall"),
                             ("米粉店", "Rice Noodles"), ("卤味", "Braised Meat"),
                             ("火锅", "Hotpot"), ("海鲜楼", "Seafood House"),
                             ("面馆", "Noodle House")))
VENUES = _names(SHOPS, (("KTV", "KTV"), ("酒吧", "Bar"), ("网吧", "Internet Cafe"),
                        ("棋牌室", "Mahjong Room"), ("健身房", "Gym")))
COMPOUNDS = _names(ESTATES, ESTATE_KINDS)
BLOCKS = tuple((f"{e}{k}{n}栋楼道", f"the stairwell of block {n}, {ee} {ke}")
               for (e, ee) in ESTATES[:6] for (k, ke) in ESTATE_KINDS[:2] for n in (2, 3, 5, 7, 9))
VEHICLES = _names((("白色", "white"), ("银色", "silver"), ("黑色", "black"), ("红色", "red")),
                  (("面包车", "van"), ("轿车", "saloon"), ("三轮车", "tricycle"),
                   ("越野车", "SUV")))
FOOD_SHOPS = _names(SHOPS, (("早餐店", "Breakfast"), ("小吃店", "Snacks"), ("便利店", "Mart")))

PROBLEMS = (
    Problem("environment.oily_smoke", "food.restaurant_hygiene", RESTAURANTS,
            ("{e}油烟直排，熏得楼上住户不敢开窗", "{e}没有安装油烟净化器，油烟很大",
             "{e}的排烟管道正对居民楼排油烟", "{e}每天晚上油烟呛人，整栋楼都是油烟味",
             "{e}烧烤油烟特别大，烟雾飘进家里"),
            ("影响周边居民生活", "严重影响居民休息", "老人小孩被呛得咳嗽", "多次沟通无果"),
            ("{e} vents greasy cooking smoke straight into the flats above",
             "thick oily smoke from {e} every evening, no filter installed",
             "the exhaust pipe of {e} blows cooking fumes at our windows"),
            ("餐饮油烟扰民", "油烟直排", "饭店油烟"), "Restaurant oily smoke"),
    Problem("environment.noise", "dispute.neighbour", VENUES,
            ("{e}深夜噪音很大，吵到凌晨两点", "{e}音响开得震天响，晚上根本睡不着",
             "{e}每晚放音乐扰民", "{e}半夜喧哗，噪声严重超标"),
            ("影响居民休息", "孩子第二天要上学", "老人心脏不好受不了"),
            ("loud music from {e} until 2 am every night",
             "{e} is extremely noisy late at night, nobody can sleep"),
            ("噪音扰民", "夜间噪声", "深夜噪音"), "Noise at night"),
    Problem("urban.garbage", "environment.illegal_dumping", COMPOUNDS,
            ("{e}东门垃圾桶满溢，垃圾堆在路边没人清运", "{e}门口垃圾成堆，臭气熏天",
             "{e}北侧垃圾站好几天没清理，苍蝇很多", "{e}附近垃圾满地，环卫一直没来收"),
            ("影响环境卫生", "夏天气味很难闻", "路过都要捂鼻子"),
            ("rubbish bins at the gate of {e} overflowing for days",
             "garbage piled up outside {e}, it stinks"),
            ("垃圾满溢", "垃圾未清运", "暴露垃圾"), "Overflowing rubbish"),
    Problem("urban.streetlight", "urban.road_damage", SPOTS,
            ("{e}的路灯坏了好几天，晚上漆黑一片", "{e}一排路灯不亮，夜里走路很危险",
             "{e}路灯一闪一闪的，时亮时灭"),
            ("存在安全隐患", "老人晚上不敢出门", "容易发生事故"),
            ("the street lights near {e} have been out for days",
             "street lamp at {e} broken, completely dark at night"),
            ("路灯不亮", "路灯故障"), "Broken streetlight"),
    Problem("urban.road_damage", "safety.construction", SPOTS,
            ("{e}人行道上有个大坑，下雨积水看不见", "{e}路面塌陷，电动车摔了好几辆",
             "{e}地砖松动翘起，很容易绊倒"),
            ("存在安全隐患", "已经有人摔伤", "希望尽快修补"),
            ("big pothole on the pavement at {e}, filled with water after rain",
             "the road surface at {e} has collapsed, scooters keep falling"),
            ("道路破损", "路面坑洼", "路面塌陷"), "Damaged road"),
    Problem("safety.ebike_charging", "fire.blocked_exit", BLOCKS,
            ("{e}有人私拉电线给电动车充电，电线从窗户吊下来",
             "{e}飞线充电，插线板就放在地上", "{e}停满电动车充电，晚上插着一排"),
            ("有火灾隐患", "万一起火后果不堪设想", "物业不管"),
            ("people charge e-bikes in {e} with cables hanging from windows",
             "dangling extension cables charging scooters in {e}, fire risk"),
            ("电动车违规充电", "飞线充电"), "E-bike charging from dangling cables"),
    Problem("urban.street_vendor", "food.unlicensed", SPOTS,
            ("{e}流动摊贩占道经营，人车都过不去", "{e}早上摆满了小摊，把马路堵住了",
             "{e}有人摆摊卖小吃，占用人行道"),
            ("影响交通", "上下学高峰很危险", "垃圾乱丢"),
            ("street vendors block the road at {e} every morning",
             "food stalls occupy the whole pavement at {e}"),
            ("占道经营", "流动摊贩"), "Street vending on the road"),
    Problem("livelihood.water_supply", "livelihood.water_supply", COMPOUNDS,
            ("{e}从昨天开始停水，没有任何通知", "{e}水压很低，高层一点水都没有",
             "{e}自来水发黄，有铁锈味"),
            ("生活很不方便", "家里有老人孩子", "物业说不清楚原因"),
            ("no water at {e} since yesterday and no notice", "tap water at {e} is yellow"),
            ("停水", "供水问题"), "Water supply"),
    Problem("urban.abandoned_vehicle", "urban.abandoned_vehicle", VEHICLES,
            ("路边停着一辆{e}，落满灰尘半年没动过", "一辆{e}长期停放占用车位，车胎都瘪了"),
            ("占用公共车位", "影响市容"),
            ("a {e} has been abandoned by the kerb for months",
             "a {e} left to rot in a parking bay"),
            ("僵尸车", "车辆长期占道"), "Abandoned vehicle"),
    Problem("safety.gas", "safety.building", FOOD_SHOPS,
            ("{e}附近有很浓的燃气味", "{e}煤气罐随意摆放，还闻到漏气的味道"),
            ("担心发生爆炸", "存在重大安全隐患"),
            ("strong smell of gas near {e}", "gas cylinders stored carelessly at {e}"),
            ("燃气泄漏隐患", "燃气味"), "Gas hazard"),
)

# Typos a hurried operator or a phone keyboard makes: homophones and near shapes.
ZH_TYPOS = {"烟": "咽", "扰": "绕", "垃圾": "拉圾", "噪": "燥", "清运": "清云", "坏": "怀",
            "漆黑": "七黑", "塌陷": "踏陷", "充电": "冲电", "占道": "站道", "停水": "挺水",
            "燃气": "然气", "熏": "薰", "排": "拍"}


def _typo_en(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 4 and w.isalpha():
            j = rng.randrange(1, len(w) - 2)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]  # swapped letters
    return " ".join(words)


def _typo_zh(rng: random.Random, text: str) -> str:
    keys = [k for k in ZH_TYPOS if k in text]
    for k in rng.sample(keys, min(len(keys), rng.randint(1, 2))):
        text = text.replace(k, ZH_TYPOS[k], 1)
    return text


@dataclass
class Spot:
    lon: float
    lat: float
    street: tuple[str, str]
    number: int


@dataclass
class Incident:
    cluster: str
    problem: Problem
    entity: tuple[str, str]
    spot: Spot
    start: datetime
    size: int
    english: str  # "no" | "all" | "mixed"
    tags: tuple[str, ...] = ()
    repeat_of: str | None = None


class Generator:
    def __init__(self, seed: int, registry: PlaceRegistry, name: str) -> None:
        self.rng = random.Random(seed)
        self.registry = registry
        self.name = name
        units = [u for u in registry.by_level(Level.UNIT) if u.point is not None]
        streets = {t.code for t in registry.by_level(Level.TOWN) if t.code[6] == "0"}
        self.units = [u for u in units if u.code[:9] in streets]  # urban street grids
        self.lines: list[dict[str, Any]] = []
        self.count = 0

    def build(self, incidents: int) -> list[dict[str, Any]]:
        planned: list[Incident] = []
        while len(planned) < incidents:
            base = self._incident(START + timedelta(hours=self.rng.uniform(0, 24 * 75)))
            if any(_collides(base, other) for other in planned):
                continue  # two unrelated incidents would be indistinguishable: redraw
            planned.append(base)
            roll = self.rng.random()
            if roll < 0.22:  # another restaurant/shop on the same street, same problem
                planned.append(self._near_different(base))
            elif roll < 0.32:  # the same problem at the same spot, months later
                planned.append(self._later(base, days=self.rng.uniform(60, 110),
                                           tag="months_later"))
            elif roll < 0.40:  # a repeat soon after the case was closed
                planned.append(self._later(base, days=self.rng.uniform(9, 16), tag="repeat",
                                           repeat=True))
        for inc in planned:
            self._emit(inc)
        self.lines.sort(key=lambda x: (x["at"], x["kind"] == "report", x.get("case_id", "")))
        return self.lines

    # -- incidents ---------------------------------------------------------------------------

    def _incident(self, start: datetime) -> Incident:
        problem = self.rng.choice(PROBLEMS)
        unit = self.rng.choice(self.units)
        assert unit.point is not None
        street = STREETS[int(unit.code[-6:]) % len(STREETS)]
        spot = Spot(unit.point[0], unit.point[1], street, self.rng.randint(1, 320))
        size = self.rng.choices((1, 2, 3, 4, 5), (46, 24, 16, 9, 5))[0]
        english = self.rng.choices(("no", "all", "mixed"), (86, 9, 5))[0]
        return Incident(self._cluster(), problem, self.rng.choice(problem.entities), spot,
                        start, size, english)

    def _near_different(self, base: Incident) -> Incident:
        others = [e for e in base.problem.entities if e != base.entity]
        bearing = self.rng.uniform(0, 360)
        lon, lat = _move(base.spot.lon, base.spot.lat, self.rng.uniform(40, 150), bearing)
        number = base.spot.number + self.rng.choice((-1, 1)) * self.rng.randint(4, 30)
        spot = Spot(lon, lat, base.spot.street, max(1, number))
        start = base.start + timedelta(hours=self.rng.uniform(-24, 48))
        return Incident(self._cluster(), base.problem, self.rng.choice(others), spot, start,
                        self.rng.choices((1, 2, 3), (50, 35, 15))[0], base.english,
                        tags=("near_different",))

    def _later(self, base: Incident, days: float, tag: str, repeat: bool = False) -> Incident:
        start = base.start + timedelta(days=days)
        return Incident(self._cluster(), base.problem, base.entity, base.spot, start,
                        self.rng.choices((1, 2), (70, 30))[0], base.english, tags=(tag,),
                        repeat_of=base.cluster if repeat else None)

    def _cluster(self) -> str:
        self.count += 1
        return f"{self.name}-{self.count:04d}"

    # -- reports -----------------------------------------------------------------------------

    def _emit(self, inc: Incident) -> None:
        channels = ["grid_app", "hotline_12345", "hotline_12345", "police", "petition",
                    "inspection"]
        self.rng.shuffle(channels)
        last = inc.start
        for i in range(inc.size):
            at = inc.start + timedelta(hours=0 if i == 0 else self.rng.uniform(0.2, 60))
            last = max(last, at)
            english = inc.english == "all" or (inc.english == "mixed" and i % 2 == 1)
            channel = "open311" if english else channels[i % len(channels)]
            self.lines.append(self._report(inc, channel, at, english))
        closed = last + timedelta(days=self.rng.uniform(2, 6))
        self.lines.append({"kind": "close", "cluster": inc.cluster, "at": closed.isoformat()})

    def _report(self, inc: Incident, channel: str, at: datetime, english: bool
                ) -> dict[str, Any]:
        rng, p = self.rng, inc.problem
        title, text = self._english(inc) if english else self._chinese(inc, channel)
        if rng.random() < 0.25:
            text = _typo_en(rng, text) if english else _typo_zh(rng, text)
        lon, lat = self._where(inc, channel)
        found = self.registry.locate(inc.spot.lon, inc.spot.lat)
        assert found is not None
        area = list(found.area_path)
        if lon is not None and lat is not None:
            placed = self.registry.locate(lon, lat)
            area = list(placed.area_path) if placed else area[:1]
        else:
            area = area[:5] if channel != "petition" else area[:4]  # grid / community only
        category = p.category
        if channel in ("hotline_12345", "police") and rng.random() < 0.3:
            category = p.alt_category
        elif channel == "petition" and rng.random() < 0.5:
            category = "petition.general"
        ref = f"{inc.cluster}:{len(self.lines)}"
        rid = uuid.uuid5(NAMESPACE, ref)
        return {"kind": "report", "cluster": inc.cluster, "tags": list(inc.tags),
                "repeat_of": inc.repeat_of, "case_id": str(rid), "report_id": str(rid),
                "channel": channel, "category": category, "title": title,
                "description": text, "lon": lon, "lat": lat, "area_path": area,
                "at": at.isoformat()}

    def _where(self, inc: Incident, channel: str) -> tuple[float | None, float | None]:
        """GPS for the grid app and inspectors; geocoded addresses (with their error) or
        nothing for callers and petitions."""
        error, missing = {"grid_app": (12, 0.0), "inspection": (20, 0.0),
                          "hotline_12345": (90, 0.25), "police": (45, 0.1),
                          "petition": (160, 0.5), "open311": (35, 0.1)}[channel]
        if self.rng.random() < missing:
            return None, None
        lon, lat = _move(inc.spot.lon, inc.spot.lat, abs(self.rng.gauss(0, error)),
                         self.rng.uniform(0, 360))
        return round(lon, 6), round(lat, 6)

    def _chinese(self, inc: Incident, channel: str) -> tuple[str, str]:
        rng, p = self.rng, inc.problem
        street, no, e = inc.spot.street[0], inc.spot.number, inc.entity[0]
        addr = rng.choice((f"{street}{no}号", f"{street}{no}号", f"{street}", f"{street}附近"))
        phrase = rng.choice(p.zh).format(e=e)
        impact = rng.choice(p.zh_impact)
        title = rng.choice(p.title_zh)
        text = {
            "grid_app": f"{addr}{phrase}。",
            "inspection": f"巡查发现：{addr}{phrase}，已拍照取证。",
            "hotline_12345": f"市民来电反映：{addr}{phrase}，{impact}。诉求：请相关部门尽快处理。",
            "police": f"报警人称{addr}{phrase}，{impact}，民警到场后建议转相关部门处理。",
            "petition": f"信访人反映：本人住在{street}一带，{phrase}，{impact}，多次反映未果，"
                        "要求有关部门依法处理。",
        }[channel]
        return (title if channel != "grid_app" or rng.random() < 0.7 else ""), text

    def _english(self, inc: Incident) -> tuple[str, str]:
        rng, p = self.rng, inc.problem
        street, no, e = inc.spot.street[1], inc.spot.number, inc.entity[1]
        addr = rng.choice((f"No. {no} {street}", f"{no} {street}", f"{street}"))
        phrase = rng.choice(p.en).format(e=e)
        tail = rng.choice(("Please fix it.", "It has been like this for days.",
                           "Nobody has come yet.", ""))
        return p.title_en, f"{phrase[0].upper()}{phrase[1:]} near {addr}. {tail}".strip()


def _collides(a: Incident, b: Incident) -> bool:
    from shared.places.geo import distance_m

    return (a.problem is b.problem and a.entity == b.entity
            and abs(a.start - b.start) < timedelta(days=45)
            and distance_m(a.spot.lon, a.spot.lat, b.spot.lon, b.spot.lat) < 600)


def _move(lon: float, lat: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    import math

    b = math.radians(bearing_deg)
    dy, dx = metres * math.cos(b), metres * math.sin(b)
    return (lon + dx / (M_PER_DEG * math.cos(math.radians(lat))), lat + dy / M_PER_DEG)


def generate(name: str) -> list[dict[str, Any]]:
    seed, incidents = SETS[name]
    return Generator(seed, load_demo_registry(), name).build(incidents)


def render(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(x, ensure_ascii=False, sort_keys=True) + "\n" for x in lines)


def main() -> None:
    for name in SETS:
        lines = generate(name)
        (HERE / f"{name}.jsonl").write_text(render(lines), encoding="utf-8")
        reports = sum(1 for x in lines if x["kind"] == "report")
        print(f"{name}: {reports} reports, {len({x['cluster'] for x in lines})} incidents")


if __name__ == "__main__":
    main()
