"""Six-level place registry: 市 → 县(区) → 镇(街) → 村(社区) → 网格 → 单元.

Importing this package does no work; the demo city is read on first use of
load_demo_registry(). The CLI (typer, rich) lives in `shared.places.cli`.
"""

from .codes import (
    AREA_PATH_SEP,
    code_area_path,
    code_problem,
    join_path,
    level_of_code,
    parent_code_of,
    path_within,
)
from .demo import build_demo, load_demo_registry, small_demo_registry
from .model import Level, MultiPolygonGeometry, Place, PolygonGeometry, Registry
from .registry import Location, PlaceRegistry, load_registry, save_registry
from .validate import Issue, IssueKind, ValidationReport, validate

__all__ = [
    "AREA_PATH_SEP",
    "Issue",
    "IssueKind",
    "Level",
    "Location",
    "MultiPolygonGeometry",
    "Place",
    "PlaceRegistry",
    "PolygonGeometry",
    "Registry",
    "ValidationReport",
    "build_demo",
    "code_area_path",
    "code_problem",
    "join_path",
    "level_of_code",
    "load_demo_registry",
    "load_registry",
    "parent_code_of",
    "path_within",
    "save_registry",
    "small_demo_registry",
    "validate",
]
