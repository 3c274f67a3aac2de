"""Version 1 of the demo city's (莆阳市) responsibility list, seeded when none exists.

Modelled on published local lists: matters are handled at the lowest level able to
(属地管理): the town/street takes mediation, rubbish, vendors and e-bike charging; district
bureaus take enforcement and licensing; the water utility works city-wide. Time limits
follow the examples of GB/T 30428 catalogues (exposed rubbish 4 working hours, illegal
building 20 working days) and 12345 practice (return within 2 working days = 14 hours).
Two districts differ: in 仙游县 (a rural county) towns handle illegal building under
their comprehensive enforcement teams (乡镇综合执法), and in 荔城区 street vending on the
old-town streets is a district matter.
"""

from __future__ import annotations

from services.dispatch.routing import Rule

XIANYOU = "350322"
LICHENG = "350304"


def r(category: str, department: str, level: str, sign: float, *, hours: float | None = None,
      days: int | None = None, urgent: bool = False, area: str | None = None,
      note: str = "") -> Rule:
    return Rule.model_validate({
        "category": category, "area": area, "department": department, "level": level,
        "sign_hours": sign, "handle_hours": hours, "handle_days": days,
        "urgency": "urgent" if urgent else "normal", "note": note})


SEED_RULES: tuple[Rule, ...] = (
    # 矛盾纠纷: mediation at the town first (人民调解), labour and property at the district.
    r("dispute", "street_office", "town", 4, days=10, note="镇街综治中心调解"),
    r("dispute.neighbour", "street_office", "town", 4, days=10, note="人民调解委员会"),
    r("dispute.family", "street_office", "town", 4, days=10),
    r("dispute.property", "housing", "district", 4, days=5, note="物业监管"),
    r("dispute.labour", "hrss", "district", 4, days=10, note="劳动保障监察"),
    # 城市管理
    r("urban", "urban_mgmt", "district", 2, days=3),
    r("urban.garbage", "urban_mgmt", "town", 1, hours=4, note="暴露垃圾 4 工作小时"),
    r("urban.illegal_building", "urban_mgmt", "district", 2, days=20, note="拆除 20 工作日"),
    r("urban.illegal_building", "street_office", "town", 2, days=20, area=XIANYOU,
      note="乡镇综合执法"),
    r("urban.street_vendor", "urban_mgmt", "town", 1, hours=8),
    r("urban.street_vendor", "urban_mgmt", "district", 1, hours=8, area=LICHENG,
      note="古城街区由区城管执法"),
    r("urban.road_damage", "housing", "district", 2, days=5),
    r("urban.streetlight", "urban_mgmt", "district", 2, days=3),
    r("urban.bulky_item", "urban_mgmt", "town", 2, days=2),
    r("urban.graffiti", "urban_mgmt", "town", 2, days=2),
    r("urban.abandoned_vehicle", "police", "district", 4, days=10, note="交警"),
    # 安全隐患
    r("safety", "emergency", "district", 1, days=2),
    r("safety.ebike_charging", "street_office", "town", 1, days=1, note="飞线充电"),
    r("safety.gas", "housing", "district", 0.5, hours=4, urgent=True, note="燃气主管部门"),
    r("safety.building", "housing", "district", 1, days=2),
    r("safety.construction", "housing", "district", 1, days=2),
    # 食品安全
    r("food", "market_reg", "district", 2, days=5),
    r("food.restaurant_hygiene", "market_reg", "district", 2, days=5),
    r("food.expired", "market_reg", "district", 2, days=3),
    r("food.unlicensed", "market_reg", "district", 2, days=7),
    # 生态环境
    r("environment", "ecology", "district", 2, days=5),
    r("environment.oily_smoke", "urban_mgmt", "district", 2, days=5, note="餐饮油烟"),
    r("environment.noise", "police", "district", 1, days=2, note="社会生活噪声"),
    r("environment.water", "ecology", "district", 2, days=10),
    r("environment.illegal_dumping", "urban_mgmt", "town", 2, days=3),
    # 社会治安
    r("order", "police", "district", 1, hours=8),
    r("order.gambling", "police", "district", 1, hours=8),
    r("order.fight", "police", "district", 0.5, hours=4, urgent=True),
    r("order.suspicious", "police", "district", 1, hours=8),
    # 市场监管
    r("market", "market_reg", "district", 2, days=7),
    r("market.price", "market_reg", "district", 2, days=7),
    r("market.fake_goods", "market_reg", "district", 2, days=10),
    # 民生服务
    r("livelihood", "civil_affairs", "district", 4, days=5),
    r("livelihood.water_supply", "water", "city", 1, hours=8, note="供水抢修"),
    r("livelihood.elderly_care", "street_office", "town", 4, days=3, note="社区养老"),
    r("livelihood.social_assistance", "civil_affairs", "district", 4, days=10),
    # 消防安全
    r("fire", "fire_rescue", "district", 1, days=1, urgent=True),
    r("fire.blocked_exit", "fire_rescue", "district", 1, days=1, urgent=True),
    r("fire.equipment", "fire_rescue", "district", 2, days=3),
    # 信访事项: 信访工作条例 gives 60 days; the list counts 30 working days.
    r("petition", "petition_office", "district", 8, days=30),
    r("petition.general", "petition_office", "district", 8, days=30),
)
