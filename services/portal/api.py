"""The portal's routes: the gateway to the services, demo sign-in, and the map's shapes.

`/api/<service>/<path>` is passed to `<service>`'s `/api/<path>` with the caller's own
token: the services decide what the caller may see and do, the portal adds nothing.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from shared.catalogue import departments
from shared.places import Level, PlaceRegistry, load_demo_registry
from shared.runtime.auth import issue_token

router = APIRouter()
FORWARDED = ("authorization", "content-type", "accept", "last-event-id", "idempotency-key")
PASSED_BACK = ("content-type", "content-disposition", "www-authenticate", "location")
CITY = "350300"


# -- the gateway --------------------------------------------------------------------------

@router.api_route("/api/{service}/{path:path}",
                  methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def gateway(service: str, path: str, request: Request) -> Response:
    base = request.app.state.settings.upstreams.get(service)
    if base is None:
        raise HTTPException(404, detail=f"no service {service!r}; one of "
                                        + ", ".join(request.app.state.settings.upstreams))
    client: httpx.AsyncClient = request.app.state.client
    streaming = "text/event-stream" in request.headers.get("accept", "")
    upstream = client.build_request(
        request.method, f"{base}/api/{path}", params=request.query_params,
        content=await request.body(),
        headers={k: v for k, v in request.headers.items() if k.lower() in FORWARDED},
        timeout=httpx.Timeout(30.0, connect=5.0, read=None if streaming else 30.0))
    try:
        answer = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        return JSONResponse({"detail": f"{service} is not answering ({type(exc).__name__})"},
                            status_code=502)
    headers = {k: v for k, v in answer.headers.items() if k.lower() in PASSED_BACK}
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        headers["cache-control"] = "no-cache"
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                 headers=headers, background=BackgroundTask(answer.aclose))
    body = await answer.aread()
    await answer.aclose()
    return Response(body, status_code=answer.status_code, headers=headers)


# -- demo sign-in ---------------------------------------------------------------------------

class Identity(BaseModel):
    key: str
    sub: str
    role: str
    place: str
    name: str
    department: str | None = None
    home: str  # the page this person starts on


@cache
def identities() -> dict[str, Identity]:
    """People of the demo city, one per role and level, for the sign-in page."""
    r = places()
    district = r.by_level(Level.DISTRICT)[0]
    town, other_town = r.children(district.code)[:2]
    grid = r.descendants(town.code, Level.GRID)[0]
    people = [
        ("grid_worker", grid.code, f"林网格（{grid.name_zh}）", None, "report.html"),
        ("hotline_operator", CITY, "12345 话务员 王敏", None, "hotline.html"),
        ("department_staff", CITY, "城管局经办人 陈强", "urban_mgmt", "inbox.html"),
        ("department_staff", CITY, "应急局经办人 黄磊", "emergency", "inbox.html"),
        ("dispatcher", CITY, "市派单员 郑洁", None, "review.html"),
        ("supervisor", CITY, "效能办督查员 许诚", None, "casefile.html"),
        ("leader", CITY, "市领导 李书记", None, "dashboard.html"),
        ("leader", district.code, f"{district.name_zh}领导", None, "dashboard.html"),
        ("leader", town.code, f"{town.name_zh}干部", None, "dashboard.html"),
        ("leader", other_town.code, f"{other_town.name_zh}干部", None, "dashboard.html"),
        ("administrator", CITY, "系统管理员", None, "dashboard.html"),
    ]
    out = {}
    for role, place, name, dept, home in people:
        key = f"{role}-{place}" + (f"-{dept}" if dept else "")
        out[key] = Identity(key=key, sub=f"demo-{key}", role=role, place=place, name=name,
                            department=dept, home=home)
    return out


@router.get("/auth/identities")
def list_identities() -> list[Identity]:
    return list(identities().values())


class SignIn(BaseModel):
    key: str


@router.post("/auth/dev-token")
def dev_token(body: SignIn) -> dict[str, Any]:
    """A signed token for a demo identity: development and tests only, never production."""
    if os.environ.get("GOV_ENV", "development") == "production":
        raise HTTPException(403, detail="demo sign-in is off in production (GOV_ENV)")
    who = identities().get(body.key)
    if who is None:
        raise HTTPException(404, detail=f"no demo identity {body.key!r}")
    token = issue_token(who.sub, who.role, who.place, who.name, who.department)
    return {"token": token, "identity": who.model_dump(),
            "area_path": places().area_path_str(who.place)}


# -- reference data for the pages ---------------------------------------------------------

@cache
def places() -> PlaceRegistry:
    return load_demo_registry()


@router.get("/geo/places")
def geo_places(root: Annotated[str, Query(pattern=r"^\d{6,15}$")] = CITY,
               level: Literal["district", "town", "village", "grid"] = "grid"
               ) -> JSONResponse:
    """GeoJSON of the places of one level under `root`, for ECharts to draw (no tiles)."""
    return JSONResponse(_shapes(root, level), headers={"cache-control": "max-age=3600"})


@cache
def _shapes(root: str, level: str) -> dict[str, Any]:
    r = places()
    if root not in r:
        raise HTTPException(404, detail=f"no place {root}")
    features = []
    for p in r.descendants(root, Level(level)):
        f = p.to_feature(5)
        f["properties"] = {"name": p.code, "name_zh": p.name_zh, "name_en": p.name_en,
                           "area_path": r.area_path_str(p.code)}
        features.append(f)
    return {"type": "FeatureCollection", "features": features}


@router.get("/geo/place/{code}")
def place_info(code: str) -> dict[str, Any]:
    p = places().get(code)
    if p is None:
        raise HTTPException(404, detail=f"no place {code}")
    return {"code": p.code, "level": p.level.value, "name_zh": p.name_zh, "name_en": p.name_en,
            "area_path": places().area_path_str(p.code),
            "path_names": [{"code": a.code, "name_zh": a.name_zh, "name_en": a.name_en}
                           for a in (*places().ancestors(p.code), p)]}


@router.get("/ref/departments")
def list_departments() -> list[dict[str, str]]:
    return [{"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en}
            for d in departments().values()]


@router.get("/vendor/echarts.min.js", include_in_schema=False)
def echarts(request: Request) -> FileResponse:
    path = request.app.state.settings.vendor_dir / "echarts" / "dist" / "echarts.min.js"
    if not path.exists():
        raise HTTPException(503, detail="ECharts is not installed: run `make install` "
                                        "(npm ci in services/portal)")
    return FileResponse(path, media_type="text/javascript",
                        headers={"cache-control": "max-age=86400"})


# -- probes ------------------------------------------------------------------------------

@router.get("/internal/alive", include_in_schema=False)
def alive() -> dict[str, str]:
    return {"status": "alive", "service": "portal"}


@router.get("/internal/ready", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    """Ready when the pages and ECharts are in place; the services are reported, not
    required (a page shows which one is down)."""
    settings = request.app.state.settings
    checks: dict[str, Any] = {
        "pages": "ok" if (settings.static_dir / "index.html").exists() else "missing",
        "echarts": "ok" if (settings.vendor_dir / "echarts").exists() else "missing"}
    client: httpx.AsyncClient = request.app.state.client
    for name, base in settings.upstreams.items():
        try:
            r = await client.get(f"{base}/internal/alive", timeout=2)
            checks[name] = "ok" if r.status_code == 200 else f"status {r.status_code}"
        except httpx.HTTPError as exc:
            checks[name] = f"error: {type(exc).__name__}"
    ok = checks["pages"] == "ok" and checks["echarts"] == "ok"
    return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)
