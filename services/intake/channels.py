"""Channel adapters (数据汇入渠道): what each door really sends, validated, then normalised
into one `Draft`. The HTTP routes and the Kafka intake topics share these models, so a
submission is judged the same way whichever way it came in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from services.intake.domain import report_id
from shared.catalogue import departments, is_category
from shared.events import Actor, Channel, ContractError, Location
from shared.events.registry import describe_validation_error, json_object
from shared.pii import Person, redact

REF = r"^[A-Za-z0-9][A-Za-z0-9_\-./:]{0,127}$"
ATTACHMENT = r"^(att|photo|https?)://[^\s]{1,290}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """No text of a report may hold NUL (PostgreSQL's text cannot): refused here, on
        HTTP and on the channels' topics alike, not later by a table."""
        texts = value if isinstance(value, list | tuple) else (
            value.values() if isinstance(value, dict) else (value,))
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("must not contain NUL characters")
        return value


class PersonIn(_Model):
    """A citizen's personal data as a channel sends it over HTTP (never stored as is)."""

    name: str = Field(default="", max_length=64)
    phone: str = Field(default="", pattern=r"^(\+?[0-9][0-9 \-]{4,19})?$")
    id_number: str = Field(default="", pattern=r"^(\d{15}|\d{17}[0-9Xx])?$")
    email: str = Field(default="", max_length=128,
                       pattern=r"^([^@\s]+@[^@\s]+\.[A-Za-z]{2,})?$")

    @model_validator(mode="after")
    def _something(self) -> PersonIn:
        if not (self.name or self.phone or self.id_number or self.email):
            raise ValueError("give at least one of name, phone, id_number, email")
        return self

    def person(self) -> Person:
        return Person(self.name, self.phone, self.id_number, self.email)


class SealedForIntake(_Model):
    """Personal data encrypted for intake (shared.pii.seal_for_transport): required on
    Kafka, where plain personal data must never travel."""

    alg: str = Field(max_length=32)
    kid: str = Field(max_length=32)
    ek: str = Field(max_length=1024)
    nonce: str = Field(max_length=32)
    ct: str = Field(max_length=4096)


PersonField = PersonIn | SealedForIntake


class _Where(_Model):
    location: Location | None = None
    unit_code: str | None = Field(default=None, pattern=r"^\d{6,18}$")
    address: str = Field(default="", max_length=300)
    attachments: list[str] = Field(default_factory=list, max_length=9)

    @field_validator("attachments")
    @classmethod
    def _references(cls, v: list[str]) -> list[str]:
        for ref in v:
            if not re.fullmatch(ATTACHMENT, ref):
                raise ValueError("attachments are references (att://, photo://, https://), "
                                 "upload files to POST /api/attachments first")
        return v


def _known(v: str | None) -> str | None:
    if v is not None and not is_category(v):
        raise ValueError(f"unknown category {v!r}; see GET /api/categories")
    return v


class GridReport(_Where):
    """网格员/单元长上报 from the app. `external_ref` is the app's own draft id."""

    channel: ClassVar[Channel] = Channel.GRID_APP
    external_ref: str | None = Field(default=None, pattern=REF)
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=200)
    description: str = Field(min_length=2, max_length=4000)
    reported_at: AwareDatetime | None = None
    _category = field_validator("category")(_known)

    @model_validator(mode="after")
    def _somewhere(self) -> GridReport:
        if self.location is None and self.unit_code is None:
            raise ValueError("give a location (lon, lat) or a unit_code")
        return self


class InspectionFinding(_Where):
    """部门巡查发现: a department's inspector found it on patrol."""

    channel: ClassVar[Channel] = Channel.INSPECTION
    inspection_ref: str = Field(pattern=REF)  # 巡查记录编号
    department: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=200)
    description: str = Field(min_length=2, max_length=4000)
    found_at: AwareDatetime
    _category = field_validator("category")(_known)

    @field_validator("department")
    @classmethod
    def _known_department(cls, v: str) -> str:
        if v not in departments():
            raise ValueError(f"unknown department {v!r}")
        return v


class HotlineTransfer(_Where):
    """12345热线转办: a work order the government hotline transfers to the platform."""

    channel: ClassVar[Channel] = Channel.HOTLINE_12345
    work_order_no: str = Field(pattern=REF)  # 工单编号
    call_time: AwareDatetime  # 来电时间
    caller: PersonField | None = None  # 来电人 (may be anonymous)
    content: str = Field(min_length=2, max_length=4000)  # 来电内容
    hotline_category: str = Field(min_length=1, max_length=200)  # 热线分类, e.g. 城市管理/市容/垃圾
    category: str | None = Field(default=None, max_length=64)  # ours, if the hotline knows it
    title: str = Field(default="", max_length=200)
    _category = field_validator("category")(_known)


class PoliceIncident(_Where):
    """公安非警务警情: a non-emergency incident the police hand over."""

    channel: ClassVar[Channel] = Channel.POLICE
    incident_no: str = Field(pattern=REF)  # 警情编号
    police_station: str = Field(min_length=1, max_length=100)  # 派出所
    received_at: AwareDatetime  # 接警时间
    incident_type: str = Field(min_length=1, max_length=100)  # 警情类别
    content: str = Field(min_length=2, max_length=4000)  # 简要警情
    caller: PersonField | None = None  # 报警人
    category: str | None = Field(default=None, max_length=64)
    _category = field_validator("category")(_known)


class PetitionForm(StrEnum):
    LETTER = "letter"  # 来信
    VISIT = "visit"  # 来访
    ONLINE = "online"  # 网上信访
    PHONE = "phone"  # 电话


class PetitionTransfer(_Where):
    """信访转办件: a petition the petition office transfers for handling."""

    channel: ClassVar[Channel] = Channel.PETITION
    petition_no: str = Field(pattern=REF)  # 信访件编号
    petitioner: PersonField  # 信访人
    received_at: AwareDatetime  # 登记时间
    petition_form: PetitionForm = PetitionForm.LETTER
    content: str = Field(min_length=2, max_length=4000)
    category: str = Field(default="petition.general", max_length=64)
    title: str = Field(default="", max_length=200)
    _category = field_validator("category")(_known)


ChannelBody = GridReport | InspectionFinding | HotlineTransfer | PoliceIncident | PetitionTransfer
MODELS: dict[Channel, type[_Where]] = {
    m.channel: m for m in (GridReport, InspectionFinding, HotlineTransfer, PoliceIncident,
                           PetitionTransfer)
}

# The channel's own classification -> ours, first match wins (12345 and 110 practice).
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("消防通道|堵塞通道", "fire.blocked_exit"), ("消防", "fire.equipment"),
    ("充电|电动车|飞线", "safety.ebike_charging"), ("燃气|煤气|液化气", "safety.gas"),
    ("危房|房屋安全", "safety.building"), ("施工安全|脚手架", "safety.construction"),
    ("垃圾|环卫|保洁", "urban.garbage"), ("违建|违章建筑|违法建设|搭建", "urban.illegal_building"),
    ("占道|摆摊|流动摊", "urban.street_vendor"), ("路灯", "urban.streetlight"),
    ("道路|路面|坑洼|井盖", "urban.road_damage"), ("大件|家具|家电", "urban.bulky_item"),
    ("涂鸦|乱涂|小广告", "urban.graffiti"), ("僵尸车|废弃车", "urban.abandoned_vehicle"),
    ("噪音|噪声|扰民", "environment.noise"), ("油烟", "environment.oily_smoke"),
    ("倾倒|偷排", "environment.illegal_dumping"), ("污水|水体|河道", "environment.water"),
    ("邻里", "dispute.neighbour"), ("婚姻|家庭|家暴", "dispute.family"),
    ("物业", "dispute.property"), ("欠薪|工资|劳资|讨薪", "dispute.labour"),
    ("过期", "food.expired"), ("无证", "food.unlicensed"),
    ("食品|餐饮|卫生", "food.restaurant_hygiene"), ("赌", "order.gambling"),
    ("打架|斗殴|纠集", "order.fight"), ("可疑", "order.suspicious"),
    ("价格|乱收费", "market.price"), ("假冒|伪劣", "market.fake_goods"),
    ("停水|供水|水压", "livelihood.water_supply"), ("养老|老人", "livelihood.elderly_care"),
    ("救助|低保|困难", "livelihood.social_assistance"), ("纠纷|矛盾", "dispute.neighbour"),
)


def derive_category(source: str) -> str | None:
    """Our category for a channel's own classification text, most specific segment first."""
    segments = [s for s in re.split(r"[/>\-|｜、]", source) if s.strip()]
    for text in (*reversed(segments), source):
        for pattern, code in KEYWORDS:
            if re.search(pattern, text):
                return code
    return None


@dataclass(frozen=True)
class Draft:
    """What every adapter produces: one validated, normalised report. Personal data is
    still in memory here (plain, or sealed for intake); the application seals it."""

    channel: Channel
    external_ref: str
    category: str
    description: str
    reported_at: datetime
    reporter: Actor
    title: str = ""
    location: Location | None = None
    unit_code: str | None = None
    address: str = ""
    attachments: tuple[str, ...] = ()
    source_category: str = ""
    assigned_department: str | None = None
    channel_details: dict[str, str] = field(default_factory=dict)
    person: Person | None = None
    person_sealed: dict[str, str] | None = None  # sealed for intake by the channel
    person_role: str = ""
    city: str | None = None  # where an unplaceable report waits (the caller's city)

    @property
    def report_id(self) -> uuid.UUID:
        return report_id(self.channel.value, self.external_ref)


class CategoryUnknown(ValueError):
    """The channel's own category maps to none of ours and no category was given."""


def normalise(body: _Where, reporter: Actor, *, now: datetime,
              city: str | None = None) -> Draft:
    """One channel's validated body -> a Draft. Free text is redacted (callers type phone
    numbers into what they say); raises CategoryUnknown when the category cannot be told."""
    common: dict[str, Any] = {
        "reporter": reporter, "location": body.location, "unit_code": body.unit_code,
        "address": redact(body.address), "attachments": tuple(body.attachments), "city": city,
    }
    match body:
        case GridReport():
            return Draft(Channel.GRID_APP, body.external_ref or str(uuid.uuid4()), body.category,
                         redact(body.description), body.reported_at or now,
                         title=redact(body.title), **common)
        case InspectionFinding():
            return Draft(Channel.INSPECTION, body.inspection_ref, body.category,
                         redact(body.description), body.found_at, title=redact(body.title),
                         assigned_department=None,
                         channel_details={"department": body.department}, **common)
        case HotlineTransfer():
            return Draft(Channel.HOTLINE_12345, body.work_order_no,
                         _category(body.category, body.hotline_category),
                         redact(body.content), body.call_time, title=redact(body.title),
                         source_category=body.hotline_category,
                         channel_details={"work_order_no": body.work_order_no},
                         **_person(body.caller, "caller"), **common)
        case PoliceIncident():
            return Draft(Channel.POLICE, body.incident_no,
                         _category(body.category, body.incident_type), redact(body.content),
                         body.received_at, source_category=body.incident_type,
                         channel_details={"incident_no": body.incident_no,
                                          "police_station": body.police_station},
                         **_person(body.caller, "caller"), **common)
        case PetitionTransfer():
            return Draft(Channel.PETITION, body.petition_no, body.category, redact(body.content),
                         body.received_at, title=redact(body.title),
                         channel_details={"petition_no": body.petition_no,
                                          "petition_form": body.petition_form.value},
                         **_person(body.petitioner, "petitioner"), **common)
    raise TypeError(f"no adapter for {type(body).__name__}")


def _category(given: str | None, source: str) -> str:
    if given:
        return given
    derived = derive_category(source)
    if derived is None:
        raise CategoryUnknown("the channel's category maps to none of ours; give `category` "
                              "(GET /api/categories)")
    return derived


def _person(value: PersonField | None, role: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, SealedForIntake):
        return {"person_sealed": value.model_dump(), "person_role": role}
    return {"person": value.person(), "person_role": role}


# -- the Kafka path ------------------------------------------------------------------------

SYSTEM_SENDERS: dict[Channel, Actor] = {
    Channel.HOTLINE_12345: Actor(id="hotline_12345", role="service", name="12345热线"),
    Channel.POLICE: Actor(id="police_110", role="service", name="公安110联动"),
    Channel.PETITION: Actor(id="petition_office", role="service", name="信访局"),
}


@dataclass(frozen=True)
class ChannelMessage:
    """One submission consumed from a channel's intake topic."""

    channel: Channel
    body: _Where
    sender: Actor
    event_type: ClassVar[str] = "channel.submission"

    @property
    def external_ref(self) -> str:
        return str(getattr(self.body, _REF_FIELD[self.channel]) or "")

    @property
    def event_id(self) -> uuid.UUID:  # named in a dead letter, instead of the body
        return report_id(self.channel.value, self.external_ref)


_REF_FIELD = {Channel.GRID_APP: "external_ref", Channel.INSPECTION: "inspection_ref",
              Channel.HOTLINE_12345: "work_order_no", Channel.POLICE: "incident_no",
              Channel.PETITION: "petition_no"}


def topic_parser(channel: Channel) -> Callable[[bytes | None], ChannelMessage]:
    """Parse one message of a channel's intake topic: `{"sender": {...}, ...fields}`, the
    fields exactly as the channel's HTTP route takes them. Errors name fields, not values."""
    model = MODELS[channel]

    def parse(value: bytes | None) -> ChannelMessage:
        body = json_object(value)
        sender = _sender(channel, body.pop("sender", None))
        try:
            parsed = model.model_validate(body)
        except ValidationError as exc:
            raise ContractError(describe_validation_error(exc)) from None
        for name in ("caller", "petitioner"):
            if isinstance(getattr(parsed, name, None), PersonIn):
                raise ContractError(f"{name}: personal data must be sealed for intake on "
                                    "Kafka (shared.pii.seal_for_transport)")
        if channel is Channel.GRID_APP and not getattr(parsed, "external_ref", None):
            raise ContractError("external_ref: required on Kafka (it makes resending safe)")
        return ChannelMessage(channel, parsed, sender)

    return parse


def _sender(channel: Channel, raw: Any) -> Actor:
    if raw is None:
        if channel in SYSTEM_SENDERS:
            return SYSTEM_SENDERS[channel]
        raise ContractError("sender: required on this channel (who reported it)")
    try:
        return Actor.model_validate(raw)
    except ValidationError as exc:
        raise ContractError("sender: " + describe_validation_error(exc)) from None
