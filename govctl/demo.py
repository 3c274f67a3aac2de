"""Sample cases for the demo city: reported from grid units, some walked to closed."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

import httpx

from shared.catalogue import departments as all_departments
from shared.places.demo import CITY_CODE, load_demo_registry
from shared.places.model import Level
from shared.runtime.auth import issue_token


def bearer(sub: str, role: str, place: str, key: str, name: str = "",
           department: str | None = None) -> dict[str, str]:
    token = issue_token(sub, role, place, name, department, key=key)
    return {"Authorization": f"Bearer {token}"}

SAMPLES: tuple[tuple[str, str, str], ...] = (
    ("environment.oily_smoke", "烧烤店油烟直排", "楼下烧烤店油烟直排，整栋楼都是油烟味，晚上十点后还在营业。"),
    ("safety.ebike_charging", "飞线充电", "3号楼一楼有人从窗户拉电线给电动车充电，线就挂在楼道口。"),
    ("urban.garbage", "垃圾满溢", "小区东门垃圾桶满溢，垃圾堆在路边两天没人清运。"),
    ("urban.street_vendor", "占道经营", "菜市场门口流动摊贩占用人行道，行人只能走机动车道。"),
    ("urban.road_damage", "路面塌陷", "学校门口路面出现一米多宽的坑，雨后积水，电动车容易摔倒。"),
    ("urban.streetlight", "路灯不亮", "河边步道的路灯连续一周不亮，晚上散步的老人很多。"),
    ("dispute.neighbour", "楼上漏水纠纷", "楼上卫生间漏水到我家天花板，协商多次未果，邻里关系紧张。"),
    ("dispute.labour", "拖欠工资", "工地二十多名工人被拖欠三个月工资，包工头联系不上。"),
    ("food.restaurant_hygiene", "后厨卫生差", "巷口快餐店后厨老鼠出没，餐具不消毒。"),
    ("environment.noise", "夜间施工噪声", "工地晚上十一点后还在打桩，附近居民无法休息。"),
    ("fire.blocked_exit", "消防通道堵塞", "小区消防通道长期停满私家车，消防车无法进入。"),
    ("livelihood.elderly_care", "独居老人需要帮助", "5号楼独居老人行动不便，最近几天没见出门，请社区上门看看。"),
    ("safety.gas", "燃气味", "单元楼道里有明显燃气味，已经持续半天。"),
    ("market.price", "哄抬价格", "附近药店口罩价格一天之内翻了三倍。"),
    ("urban.illegal_building", "楼顶违建", "顶楼住户在楼顶加盖铁皮房，影响楼体安全。"),
)


@dataclass(frozen=True)
class DemoCase:
    case_id: uuid.UUID
    category: str
    new: bool = True  # False: an earlier run reported it (and walked it)


@dataclass(frozen=True)
class Loaded:
    reported: int
    kept: int  # reported by an earlier run: found again, left as that run left them
    dispatched: int


def load(intake_url: str, dispatch_url: str, count: int, key: str) -> Loaded:
    """Report the sample cases and walk the new ones through the loop. Run again on the
    same stores (`make run` a second time), it finds its reports recorded and walks
    nothing twice: a case signed for cannot be signed for again."""
    made = post_reports(intake_url, count, key)
    fresh = [c for c in made if c.new]
    departments = wait_dispatched(dispatch_url, fresh, key)
    walk(dispatch_url, departments, key)
    return Loaded(len(made), len(made) - len(fresh), len(departments))


def post_reports(intake_url: str, count: int, key: str, seed: int = 7) -> list[DemoCase]:
    rng = random.Random(seed)
    units = load_demo_registry().by_level(Level.UNIT)
    made: list[DemoCase] = []
    with httpx.Client(base_url=intake_url, timeout=10) as client:
        for i in range(count):
            category, title, text = SAMPLES[i % len(SAMPLES)]
            unit = rng.choice(units)
            body = {
                "external_ref": f"demo-{seed}-{i}",
                "category": category, "title": title, "description": text,
                "unit_code": unit.code,
            }
            grid = unit.code[:15]
            r = client.post("/api/reports", json=body,
                            headers=bearer(f"gw-{grid}", "grid_worker", grid, key, "网格员"))
            r.raise_for_status()
            answer = r.json()
            made.append(DemoCase(uuid.UUID(answer["case_id"]), category,
                                 new=not answer["duplicate_submission"]))
    return made


def wait_dispatched(dispatch_url: str, cases: list[DemoCase], key: str,
                    timeout: float = 60) -> dict[uuid.UUID, str]:
    """Wait until dispatch knows every case; returns case id -> department."""
    departments: dict[uuid.UUID, str] = {}
    deadline = time.monotonic() + timeout
    leader = bearer("leader-1", "leader", CITY_CODE, key, "市领导")
    with httpx.Client(base_url=dispatch_url, timeout=10, headers=leader) as client:
        while len(departments) < len(cases) and time.monotonic() < deadline:
            for c in cases:
                if c.case_id not in departments:
                    r = client.get(f"/api/cases/{c.case_id}")
                    if r.status_code == 200:
                        departments[c.case_id] = r.json()["department"]
            time.sleep(0.2)
    return departments


def walk(dispatch_url: str, departments: dict[uuid.UUID, str], key: str,
         share_closed: float = 0.4, seed: int = 7) -> None:
    """Walk some cases through the loop: signed for, handled, verified and closed."""
    rng = random.Random(seed)
    checker = bearer("gw-check", "grid_worker", CITY_CODE, key, "核查网格员")
    dispatcher = bearer("dispatcher-1", "dispatcher", CITY_CODE, key, "派单员")
    with httpx.Client(base_url=dispatch_url, timeout=10) as client:
        for case_id, dept in departments.items():
            staff = bearer(f"staff-{dept}", "department_staff", CITY_CODE, key,
                           all_departments()[dept].name_zh + "经办人", department=dept)
            stage = rng.random()
            if stage < 0.25:
                continue  # left dispatched, waiting to be signed for
            client.post(f"/api/cases/{case_id}/sign-for", headers=staff).raise_for_status()
            if stage < 1 - share_closed:
                continue
            client.post(f"/api/cases/{case_id}/handle", headers=staff,
                        json={"result": "已到现场处置完毕", "evidence": ["photo://after-1.jpg"]}
                        ).raise_for_status()
            client.post(f"/api/cases/{case_id}/verify", headers=checker,
                        json={"passed": True, "method": "on_site", "remark": "现场核查已整改",
                              "satisfaction": 5}).raise_for_status()
            client.post(f"/api/cases/{case_id}/close", headers=dispatcher).raise_for_status()
