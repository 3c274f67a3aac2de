"""Registry validation: codes, nesting, geometry, and 不重叠、无死角 (no overlaps, no gaps).

Coverage is checked wherever a place has its own boundary: its children's polygons must tile
it. A union of the grids alone could never reveal a gap, so villages must carry a boundary;
towns, districts and the city may, and are then checked the same way against their children.
Areas are computed in metres after a local equirectangular projection around each parent's
centroid (see geo.LocalProjection); slivers under `tolerance_m2` are rounding noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

import shapely
from pydantic import BaseModel, ConfigDict
from shapely.geometry.base import BaseGeometry

from .codes import code_problem
from .geo import LocalProjection
from .model import Level, Place, Registry
from .registry import PlaceRegistry

DEFAULT_TOLERANCE_M2 = 1.0


class IssueKind(StrEnum):
    DUPLICATE_CODE = "duplicate_code"
    BAD_CODE = "bad_code"
    BAD_ROOT = "bad_root"
    MISSING_PARENT = "missing_parent"
    BAD_NESTING = "bad_nesting"
    CODE_NOT_PREFIXED = "code_not_prefixed"
    MISSING_GEOMETRY = "missing_geometry"
    INVALID_GEOMETRY = "invalid_geometry"
    OVERLAP = "overlap"
    GAP = "gap"
    OUTSIDE_PARENT = "outside_parent"
    UNIT_OUTSIDE_GRID = "unit_outside_grid"


class Issue(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: IssueKind
    codes: tuple[str, ...]
    message_zh: str
    message_en: str
    area_m2: float | None = None
    location: tuple[float, float] | None = None  # (lon, lat) of a representative point


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    issues: tuple[Issue, ...] = ()
    counts: dict[Level, int] = {}

    @property
    def ok(self) -> bool:
        return not self.issues

    def by_kind(self, kind: IssueKind) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.kind is kind)

    def summary(self) -> str:
        places = sum(self.counts.values())
        if self.ok:
            return f"{places} places, no issues / 共 {places} 个地点，未发现问题"
        kinds = Counter(i.kind.value for i in self.issues)
        parts = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        n = len(self.issues)
        return f"{places} places, {n} issues ({parts}) / 共 {places} 个地点，发现 {n} 个问题"

    def render_text(self, lang: Literal["zh", "en", "both"] = "both") -> str:
        lines = [self.summary()]
        for i in self.issues:
            area = "" if i.area_m2 is None else f" [{i.area_m2:.1f} m²]"
            msg = {"zh": i.message_zh, "en": i.message_en}.get(lang)
            msg = msg or f"{i.message_zh} / {i.message_en}"
            lines.append(f"- {i.kind.value} {' '.join(i.codes)}{area}: {msg}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render_text()


def validate(
    source: PlaceRegistry | Registry | Iterable[Place],
    *,
    tolerance_m2: float = DEFAULT_TOLERANCE_M2,
) -> ValidationReport:
    """Check a registry; every problem becomes an Issue, nothing raises on bad data."""
    places = _as_places(source)
    issues: list[Issue] = []
    issues += _check_duplicates(places)
    by_code = {p.code: p for p in places}
    for p in places:
        issues += _check_structure(p, by_code)
    shapes = {p.code: p.shape() for p in places}
    for p in places:
        issues += _check_geometry(p, shapes[p.code])
    kids: dict[str, list[Place]] = {}
    for p in places:
        if p.parent_code in by_code:
            kids.setdefault(p.parent_code, []).append(p)
    for p in places:
        if p.level is not Level.GRID and shapes[p.code] is not None and p.code in kids:
            kid_shapes = {k.code: shapes[k.code] for k in kids[p.code]}
            issues += _check_coverage(p, shapes[p.code], kid_shapes, tolerance_m2)
        if p.level is Level.UNIT and p.parent_code in by_code:
            issues += _check_unit(p, by_code[p.parent_code], shapes, tolerance_m2)
    counts = Counter(p.level for p in places)
    return ValidationReport(issues=tuple(issues), counts={lvl: counts[lvl] for lvl in Level})


def _as_places(source: PlaceRegistry | Registry | Iterable[Place]) -> list[Place]:
    if isinstance(source, PlaceRegistry | Registry):
        return list(source.places)
    return list(source)


def _issue(kind: IssueKind, codes: tuple[str, ...], zh: str, en: str, **kw: object) -> Issue:
    return Issue.model_validate({"kind": kind, "codes": codes, "message_zh": zh,
                                 "message_en": en, **kw})


def _check_duplicates(places: list[Place]) -> list[Issue]:
    counts = Counter(p.code for p in places)
    return [
        _issue(IssueKind.DUPLICATE_CODE, (code,), f"编码 {code} 重复出现 {n} 次",
               f"code {code} appears {n} times")
        for code, n in sorted(counts.items()) if n > 1
    ]


def _check_structure(p: Place, by_code: dict[str, Place]) -> list[Issue]:
    out: list[Issue] = []
    if (why := code_problem(p.code, p.level)) is not None:
        out.append(_issue(IssueKind.BAD_CODE, (p.code,),
                          f"{p.name_zh}（{p.level.name_zh}）编码格式不正确", f"{p.code}: {why}"))
    if p.level is Level.CITY:
        if p.parent_code is not None:
            out.append(_issue(IssueKind.BAD_ROOT, (p.code, p.parent_code),
                              f"市级地点 {p.code} 不应有上级",
                              f"city {p.code} must have no parent"))
        return out
    if p.parent_code is None:
        out.append(_issue(IssueKind.BAD_ROOT, (p.code,), f"{p.code} 缺少上级编码",
                          f"{p.level.value} {p.code} has no parent_code"))
        return out
    parent = by_code.get(p.parent_code)
    if parent is None:
        out.append(_issue(IssueKind.MISSING_PARENT, (p.code, p.parent_code),
                          f"{p.code} 的上级 {p.parent_code} 不存在",
                          f"parent {p.parent_code} of {p.code} does not exist"))
        return out
    want = p.level.parent
    if want is not None and parent.level is not want:
        out.append(_issue(IssueKind.BAD_NESTING, (p.code, parent.code),
                          f"{p.level.name_zh} {p.code} 的上级应为{want.name_zh}"
                          f"，实为{parent.level.name_zh}",
                          f"a {p.level.value} must sit under a {want.value}, "
                          f"but {parent.code} is a {parent.level.value}"))
    if not _prefixed(p, parent):
        out.append(_issue(IssueKind.CODE_NOT_PREFIXED, (p.code, parent.code),
                          f"编码 {p.code} 未以上级编码 {parent.code} 开头",
                          f"code {p.code} does not extend its parent's code {parent.code}"))
    return out


def _prefixed(p: Place, parent: Place) -> bool:
    if p.level is Level.DISTRICT:  # 350302 belongs to city 350300: share the first 4 digits
        return len(p.code) == len(parent.code) and p.code[:4] == parent.code[:4]
    return p.code.startswith(parent.code) and len(p.code) == len(parent.code) + 3


def _check_geometry(p: Place, shape: BaseGeometry | None) -> list[Issue]:
    if p.level is Level.UNIT and p.point is None:
        return [_issue(IssueKind.MISSING_GEOMETRY, (p.code,), f"单元 {p.code} 缺少坐标点",
                       f"unit {p.code} has no point")]
    if shape is None:
        if p.level in (Level.GRID, Level.VILLAGE):
            return [_issue(IssueKind.MISSING_GEOMETRY, (p.code,),
                           f"{p.level.name_zh} {p.code} 缺少边界面",
                           f"{p.level.value} {p.code} has no polygon; gaps cannot be checked")]
        return []
    if p.level is Level.GRID and shape.geom_type != "Polygon":
        return [_issue(IssueKind.INVALID_GEOMETRY, (p.code,), f"网格 {p.code} 必须是单个多边形",
                       f"grid {p.code} must be a single Polygon, not {shape.geom_type}")]
    if not shape.is_valid:
        why = shapely.is_valid_reason(shape)
        return [_issue(IssueKind.INVALID_GEOMETRY, (p.code,), f"{p.code} 的多边形无效：{why}",
                       f"polygon of {p.code} is invalid: {why}")]
    return []


def _check_coverage(
    parent: Place,
    boundary: BaseGeometry,
    kids: dict[str, BaseGeometry | None],
    tol: float,
) -> list[Issue]:
    """Children must tile the parent: no overlaps, no gaps, nothing outside."""
    proj = LocalProjection.around(boundary)
    outer = shapely.make_valid(proj.forward(boundary))
    # Invalid children were reported already; repairing them keeps the rest of the check useful.
    present = sorted((c, s) for c, s in kids.items() if s is not None)
    codes = [c for c, _ in present]
    polys = [shapely.make_valid(proj.forward(s)) for _, s in present]
    out = _overlaps(proj, codes, polys, tol)
    covered = shapely.union_all(polys) if polys else shapely.Polygon()
    for part in _parts(shapely.difference(outer, covered)):
        if part.area >= tol:
            pt = part.representative_point()
            lon, lat = proj.inverse_xy(pt.x, pt.y)
            out.append(_issue(
                IssueKind.GAP, (parent.code,),
                f"{parent.name_zh} 内有约 {part.area:.1f} 平方米未被下级覆盖"
                f"（约在 {lon:.6f},{lat:.6f}）",
                f"{part.area:.1f} m² of {parent.code} is covered by no "
                f"{parent.level.child}, near ({lon:.6f}, {lat:.6f})",
                area_m2=round(part.area, 2), location=(round(lon, 6), round(lat, 6)),
            ))
    for code, poly in zip(codes, polys, strict=True):
        area = shapely.difference(poly, outer).area
        if area >= tol:
            out.append(_issue(IssueKind.OUTSIDE_PARENT, (code, parent.code),
                              f"{code} 有约 {area:.1f} 平方米超出上级 {parent.code} 边界",
                              f"{area:.1f} m² of {code} lies outside its parent {parent.code}",
                              area_m2=round(area, 2)))
    return out


def _overlaps(
    proj: LocalProjection, codes: list[str], polys: list[BaseGeometry], tol: float
) -> list[Issue]:
    out: list[Issue] = []
    if not polys:
        return out
    left, right = shapely.STRtree(polys).query(polys, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:  # each pair once, and never a polygon with itself
            continue
        inter = shapely.intersection(polys[i], polys[j])
        if inter.area < tol:
            continue
        pt = inter.representative_point()
        lon, lat = proj.inverse_xy(pt.x, pt.y)
        out.append(_issue(
            IssueKind.OVERLAP, (codes[i], codes[j]),
            f"{codes[i]} 与 {codes[j]} 重叠约 {inter.area:.1f} 平方米",
            f"{codes[i]} and {codes[j]} overlap by {inter.area:.1f} m²",
            area_m2=round(inter.area, 2), location=(round(lon, 6), round(lat, 6)),
        ))
    return out


def _parts(geom: BaseGeometry) -> list[BaseGeometry]:
    """Polygonal pieces of a difference result (which may be a collection or empty)."""
    if geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _parts(g)]
    return []  # points and lines have no area


def _check_unit(
    unit: Place, grid: Place, shapes: dict[str, BaseGeometry | None], tol: float
) -> list[Issue]:
    grid_shape = shapes.get(grid.code)
    if grid.level is not Level.GRID or grid_shape is None or unit.point is None:
        return []  # reported as nesting or missing-geometry issues
    grid_shape = shapely.make_valid(grid_shape)  # an invalid grid was reported already
    out: list[Issue] = []
    if not grid_shape.covers(shapely.Point(unit.point)):
        out.append(_issue(IssueKind.UNIT_OUTSIDE_GRID, (unit.code, grid.code),
                          f"单元 {unit.name_zh}（{unit.code}）的位置不在网格 {grid.code} 内",
                          f"unit {unit.code} lies outside its grid {grid.code}",
                          location=unit.point))
    footprint = shapes.get(unit.code)
    if footprint is not None:
        proj = LocalProjection.around(grid_shape)
        area = shapely.difference(
            shapely.make_valid(proj.forward(footprint)), proj.forward(grid_shape)
        ).area
        if area >= tol:
            out.append(_issue(IssueKind.UNIT_OUTSIDE_GRID, (unit.code, grid.code),
                              f"单元 {unit.code} 的轮廓有约 {area:.1f} 平方米超出网格",
                              f"{area:.1f} m² of unit {unit.code}'s footprint is outside "
                              f"grid {grid.code}", area_m2=round(area, 2)))
    return out
