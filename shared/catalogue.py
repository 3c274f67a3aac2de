"""Case categories and departments shared by every service.

Categories follow the ten application topics of the source (矛盾纠纷, 城市管理, 安全隐患,
...); each has sub-categories, coded `topic.sub`. Departments are the city's functional
departments (职能部门). The responsibility list in dispatch decides who owns what.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str

    @property
    def topic(self) -> str:
        return self.code.split(".", 1)[0]


@dataclass(frozen=True)
class Department:
    code: str
    name_zh: str
    name_en: str


TOPICS: dict[str, tuple[str, str]] = {
    "dispute": ("矛盾纠纷", "Disputes"),
    "urban": ("城市管理", "Urban management"),
    "safety": ("安全隐患", "Safety hazards"),
    "food": ("食品安全", "Food safety"),
    "environment": ("生态环境", "Environment"),
    "order": ("社会治安", "Public order"),
    "market": ("市场监管", "Market supervision"),
    "livelihood": ("民生服务", "Livelihood services"),
    "fire": ("消防安全", "Fire safety"),
    "petition": ("信访事项", "Petitions"),
}

_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("dispute.neighbour", "邻里纠纷", "Neighbour dispute"),
    ("dispute.family", "婚姻家庭纠纷", "Family dispute"),
    ("dispute.property", "物业纠纷", "Property management dispute"),
    ("dispute.labour", "劳资纠纷", "Unpaid wages / labour dispute"),
    ("urban.garbage", "暴露垃圾", "Exposed rubbish"),
    ("urban.illegal_building", "违法建设", "Illegal building"),
    ("urban.street_vendor", "占道经营", "Street vending on the road"),
    ("urban.road_damage", "道路破损", "Damaged road"),
    ("urban.streetlight", "路灯故障", "Broken streetlight"),
    ("urban.bulky_item", "大件垃圾清运", "Bulky item pick-up"),
    ("urban.graffiti", "乱涂乱画", "Graffiti"),
    ("urban.abandoned_vehicle", "僵尸车", "Abandoned vehicle"),
    ("safety.ebike_charging", "电动车违规充电", "E-bike charging from dangling cables"),
    ("safety.gas", "燃气隐患", "Gas hazard"),
    ("safety.building", "房屋安全隐患", "Unsafe building"),
    ("safety.construction", "施工安全", "Construction site safety"),
    ("food.restaurant_hygiene", "餐饮卫生", "Restaurant hygiene"),
    ("food.expired", "过期食品", "Expired food on sale"),
    ("food.unlicensed", "无证经营食品", "Unlicensed food business"),
    ("environment.oily_smoke", "餐饮油烟", "Restaurant oily smoke"),
    ("environment.noise", "噪声扰民", "Noise"),
    ("environment.water", "水体污染", "Water pollution"),
    ("environment.illegal_dumping", "非法倾倒", "Illegal dumping"),
    ("order.gambling", "聚众赌博", "Gambling"),
    ("order.fight", "打架斗殴", "Fight / violence"),
    ("order.suspicious", "可疑人员", "Suspicious persons"),
    ("market.price", "价格违法", "Price violation"),
    ("market.fake_goods", "假冒伪劣", "Counterfeit goods"),
    ("livelihood.water_supply", "停水供水", "Water supply"),
    ("livelihood.elderly_care", "养老服务", "Elderly care"),
    ("livelihood.social_assistance", "社会救助", "Social assistance"),
    ("fire.blocked_exit", "消防通道堵塞", "Blocked fire exit"),
    ("fire.equipment", "消防设施损坏", "Damaged fire equipment"),
    ("petition.general", "信访事项", "Petition matter"),
    # Request types of the Los Angeles 311 replay (data/la311/mapping.toml) with no
    # counterpart above.
    ("livelihood.homeless_encampment", "流浪人员聚集点", "Homeless encampment"),
    ("urban.dead_animal", "动物尸体清理", "Dead animal removal"),
    ("environment.water_waste", "浪费用水", "Water waste"),
    ("livelihood.general_request", "一般诉求", "General request"),
)

_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("justice", "司法局（人民调解）", "Justice Bureau (mediation)"),
    ("hrss", "人力资源和社会保障局", "Human Resources and Social Security"),
    ("housing", "住房和城乡建设局", "Housing and Urban-Rural Development"),
    ("urban_mgmt", "城市管理局", "Urban Management Bureau"),
    ("emergency", "应急管理局", "Emergency Management Bureau"),
    ("market_reg", "市场监督管理局", "Market Regulation Administration"),
    ("ecology", "生态环境局", "Ecology and Environment Bureau"),
    ("police", "公安局", "Public Security Bureau"),
    ("water", "水务集团", "Water Utility"),
    ("civil_affairs", "民政局", "Civil Affairs Bureau"),
    ("fire_rescue", "消防救援支队", "Fire and Rescue Detachment"),
    ("petition_office", "信访局", "Petition Office"),
    ("street_office", "街道（乡镇）综治中心", "Town/street governance centre"),
    # The real owners of the Los Angeles 311 replay: imported requests keep them.
    ("la_bos", "洛杉矶环卫局", "LA Sanitation, Bureau of Sanitation (BOS)"),
    ("la_ocb", "洛杉矶社区美化办公室", "Office of Community Beautification (OCB)"),
    ("la_ita", "洛杉矶信息技术局（311中心）", "Information Technology Agency, 311 (ITA)"),
    ("la_bsl", "洛杉矶路灯局", "Bureau of Street Lighting (BSL)"),
    ("la_ladwp", "洛杉矶水电局", "Department of Water and Power (LADWP)"),
)


@cache
def categories() -> dict[str, Category]:
    return {code: Category(code, zh, en) for code, zh, en in _CATEGORIES}


@cache
def departments() -> dict[str, Department]:
    return {code: Department(code, zh, en) for code, zh, en in _DEPARTMENTS}


def is_category(code: str) -> bool:
    return code in categories()
