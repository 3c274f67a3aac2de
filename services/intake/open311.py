"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) under /open311/v2/.

Services are our categories (service_code = category code). Every response comes as
JSON or XML by the path's suffix; errors are the spec's list of {code, description}.
Keys: `api_key` is a platform token (`python -m govctl token ...`); reads are scoped to
the key's place, as everywhere on the platform. Status is real: intake follows each
case on the dedup and dispatch topics (open until dispatch closes it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.intake.application import IntakeApplication
from services.intake.channels import Draft
from services.intake.domain import CLOSED_STATES, report_id
from services.intake.limits import LimitedRoute
from services.intake.placement import UnknownPlace
from shared.catalogue import TOPICS, categories, departments
from shared.events import Channel, Location
from shared.pii import Person, redact
from shared.runtime.auth import Caller, decode_token

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"],
                   route_class=LimitedRoute)

ATTRIBUTES = [{
    "variable": True, "code": "unit_code", "datatype": "string", "required": False,
    "datatype_description": "楼栋/单元编码 (18 digits), if the requester knows it",
    "order": 1, "description": "Unit (building or stairwell) code",
}]
MAX_RESULTS = 1000
MANUAL_NOTICE = "位置不在任何网格内，已转人工定位 / awaiting manual placement"
DEFAULT_WINDOW = timedelta(days=90)


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# -- rendering -----------------------------------------------------------------------------

def render(fmt: str, root: str, item: str, payload: Any, status: int = 200) -> Response:
    if fmt == "json":
        return JSONResponse(payload, status_code=status)
    return Response(to_xml(root, item, payload), status_code=status,
                    media_type="text/xml; charset=utf-8")


def to_xml(root: str, item: str, payload: Any) -> bytes:
    top = ET.Element(root)
    for entry in payload if isinstance(payload, list) else [payload]:
        _fill(ET.SubElement(top, item) if isinstance(payload, list) else top, entry)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _fill(el: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "attributes":
                _list(ET.SubElement(el, "attributes"), "attribute", v)
            elif k == "values":
                _list(ET.SubElement(el, "values"), "value", v)
            else:
                _fill(ET.SubElement(el, k), v)
    elif value is not None:
        el.text = str(value).lower() if isinstance(value, bool) else str(value)


def _list(el: ET.Element, item: str, values: list[Any]) -> None:
    for v in values:
        _fill(ET.SubElement(el, item), v)


def error(fmt: str, status: int, description: str) -> Response:
    return render(fmt if fmt in ("json", "xml") else "json", "errors", "error",
                  [{"code": status, "description": description}], status)


def _fmt(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise Open311Error(404, f"format {fmt!r} is not served; use .json or .xml")
    return fmt


def _app(request: Request) -> IntakeApplication:
    app: IntakeApplication = request.app.state.runtime.sink
    return app


def _caller(api_key: str | None) -> Caller:
    if not api_key:
        raise Open311Error(403, "api_key is required")
    try:
        return decode_token(api_key)
    except HTTPException:
        raise Open311Error(403, "api_key is not valid") from None


def _guard(fmt: str, call: Any) -> Response:
    try:
        return call(_fmt(fmt))
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)


# -- services ------------------------------------------------------------------------------

def service_list() -> list[dict[str, Any]]:
    return [{"service_code": c.code, "service_name": c.name_zh,
             "description": c.name_en, "metadata": True, "type": "realtime",
             "keywords": f"{c.name_zh},{c.name_en}", "group": TOPICS[c.topic][0]}
            for c in categories().values()]


def _jurisdiction(app: IntakeApplication, jurisdiction_id: str | None) -> None:
    if jurisdiction_id and app.registry.get(jurisdiction_id) is None:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id} not found")


@router.get("/services.{fmt}")
def services(fmt: str, request: Request, jurisdiction_id: str | None = None) -> Response:
    def go(f: str) -> Response:
        _jurisdiction(_app(request), jurisdiction_id)
        return render(f, "services", "service", service_list())
    return _guard(fmt, go)


@router.get("/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: str, request: Request,
                       jurisdiction_id: str | None = None) -> Response:
    def go(f: str) -> Response:
        _jurisdiction(_app(request), jurisdiction_id)
        if service_code not in categories():
            raise Open311Error(404, f"service_code {service_code} not found")
        return render(f, "service_definition", "",
                      {"service_code": service_code, "attributes": ATTRIBUTES})
    return _guard(fmt, go)


# -- requests ------------------------------------------------------------------------------

@router.post("/requests.{fmt}")
async def post_request(fmt: str, request: Request) -> Response:
    try:
        f = _fmt(fmt)
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        who = _caller(fields.get("api_key"))
        app = _app(request)
        _jurisdiction(app, fields.get("jurisdiction_id"))
        draft, token = _draft(fields, who)
        try:
            receipt = await app.receive(draft)
        except UnknownPlace as exc:
            raise Open311Error(400, f"attribute[unit_code]: {exc}") from None
        notice = "" if receipt.placed else MANUAL_NOTICE
        return render(f, "service_requests", "request", [{
            "service_request_id": str(receipt.report_id), "token": token,
            "service_notice": notice, "account_id": fields.get("account_id") or None}], 201)
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)


def _draft(fields: dict[str, str], who: Caller) -> tuple[Draft, str]:
    code = fields.get("service_code", "")
    if not code:
        raise Open311Error(400, "service_code is required")
    if code not in categories():
        raise Open311Error(404, f"service_code {code} not found")
    description = fields.get("description", "").strip()
    if not description:
        raise Open311Error(400, "description is required")
    if len(description) > 4000:
        raise Open311Error(400, "description is longer than 4000 characters")
    location = _location(fields)
    address = fields.get("address_string", "").strip()[:300]
    unit = fields.get("attribute[unit_code]", "").strip() or fields.get("address_id", "").strip()
    if location is None and not address and not unit:
        raise Open311Error(400, "a location is required: lat and long, address_string "
                                "or address_id")
    if unit and not (unit.isascii() and unit.isdigit() and 6 <= len(unit) <= 18):
        raise Open311Error(400, "attribute[unit_code] must be 6-18 digits")
    media = fields.get("media_url", "").strip()
    if media and not media.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    name = " ".join(p for p in (fields.get("first_name", "").strip(),
                                fields.get("last_name", "").strip()) if p)[:64]
    person = Person(name=name, phone=fields.get("phone", "").strip()[:20],
                    email=fields.get("email", "").strip()[:128])
    token = str(uuid.uuid4())
    details = {k: fields[k][:64] for k in ("device_id", "account_id") if fields.get(k)}
    return Draft(Channel.OPEN311, token, code, redact(description), datetime.now(UTC),
                 who.as_actor(), location=location, unit_code=unit or None,
                 address=redact(address), attachments=(media,) if media else (),
                 channel_details=details, person=person or None,
                 person_role="requester", city=who.place), token


def _location(fields: dict[str, str]) -> Location | None:
    lat, lon = fields.get("lat", "").strip(), fields.get("long", "").strip()
    if not lat and not lon:
        return None
    try:
        return Location(lon=float(lon), lat=float(lat))
    except (ValueError, ValidationError):
        raise Open311Error(400, "lat and long must be decimal degrees (WGS 84)") from None


@router.get("/requests.{fmt}")
def get_requests(fmt: str, request: Request, api_key: str | None = None,
                 service_request_id: str | None = None, service_code: str | None = None,
                 start_date: str | None = None, end_date: str | None = None,
                 status: str | None = None, jurisdiction_id: str | None = None) -> Response:
    def go(f: str) -> Response:
        who = _caller(api_key)
        app = _app(request)
        _jurisdiction(app, jurisdiction_id)
        ids = _ids(service_request_id)
        start, end = _date(start_date, "start_date"), _date(end_date, "end_date")
        if not ids and start is None and end is None:
            start = datetime.now(UTC) - DEFAULT_WINDOW  # the spec's default window
        wanted = _csv(status)
        if wanted - {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        app.index.catch_up()
        rows = app.index.find(ids=ids, categories=sorted(_csv(service_code)), start=start,
                              end=end, area=who.area, limit=MAX_RESULTS)
        out = [r for r in as_requests(app, rows) if not wanted or r["status"] in wanted]
        return render(f, "service_requests", "request", out)
    return _guard(fmt, go)


@router.get("/requests/{service_request_id}.{fmt}")
def get_request(service_request_id: str, fmt: str, request: Request,
                api_key: str | None = None, jurisdiction_id: str | None = None) -> Response:
    def go(f: str) -> Response:
        who = _caller(api_key)
        app = _app(request)
        _jurisdiction(app, jurisdiction_id)
        app.index.catch_up()
        rows = app.index.find(ids=_ids(service_request_id), area=who.area)
        if not rows:
            raise Open311Error(404, f"service_request_id {service_request_id} not found")
        return render(f, "service_requests", "request", as_requests(app, rows))
    return _guard(fmt, go)


@router.get("/tokens/{token}.{fmt}")
def get_token(token: str, fmt: str, request: Request, api_key: str | None = None,
              jurisdiction_id: str | None = None) -> Response:
    def go(f: str) -> Response:
        who = _caller(api_key)
        app = _app(request)
        app.index.catch_up()
        rid = str(report_id(Channel.OPEN311.value, token))
        row = app.index.get(rid)
        if row is None or not who.can_see(row["area_path"]):
            raise Open311Error(404, f"token {token} not found")
        return render(f, "service_requests", "request",
                      [{"service_request_id": rid, "token": token}])
    return _guard(fmt, go)


def as_requests(app: IntakeApplication, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Index rows as GeoReport v2 requests; a merged report shows its case's status."""
    primaries = app.index.statuses([r["case_id"] for r in rows if r["case_id"] != r["report_id"]])
    cats, depts = categories(), departments()
    out = []
    for r in rows:
        state = primaries.get(r["case_id"], r["status"]) if r["status"] == "merged" else r["status"]
        dept = r["department"]
        media = list(r["attachments"] or ())
        out.append({
            "service_request_id": r["report_id"],
            "status": "closed" if state in CLOSED_STATES else "open",
            "status_notes": state if r["placed"] else f"{state}; awaiting manual placement",
            "service_name": cats[r["category"]].name_zh if r["category"] in cats else r["category"],
            "service_code": r["category"],
            "description": r["description"],
            "agency_responsible": depts[dept].name_zh if dept in depts else dept,
            "service_notice": None,
            "requested_datetime": _iso(r["reported_at"]),
            "updated_datetime": _iso(r["updated_at"]),
            "expected_datetime": None,
            "address": r["address"] or None,
            "address_id": r["place_code"],
            "zipcode": None,
            "lat": r["lat"],
            "long": r["lon"],
            "media_url": next((m for m in media if m.startswith("http")), None),
        })
    return out


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat(timespec="seconds")


def _csv(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def _ids(value: str | None) -> list[str]:
    out = []
    for v in _csv(value):
        try:
            out.append(str(uuid.UUID(v)))
        except ValueError:
            raise Open311Error(400, f"service_request_id {v!r} is not a request id") from None
    return out


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. "
                                "2024-01-31T08:00:00+08:00") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
