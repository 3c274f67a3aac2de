"""Place codes and area paths, derived from the code text alone.

Codes extend China's administrative division code (GB/T 2260 + the 12-digit statistical
code): 6 digits for the city and its districts/counties, +3 town digits, +3 village digits,
then this platform's own +3 grid digits and +3 unit digits.
"""

from __future__ import annotations

from .model import Level

AREA_PATH_SEP = "/"

CODE_LENGTH: dict[Level, int] = {
    Level.CITY: 6,
    Level.DISTRICT: 6,
    Level.TOWN: 9,
    Level.VILLAGE: 12,
    Level.GRID: 15,
    Level.UNIT: 18,
}


def _digits(code: str) -> bool:
    # str.isdigit alone accepts full-width and other Unicode digits.
    return code.isascii() and code.isdigit()


def level_of_code(code: str) -> Level | None:
    """The level a well-formed code belongs to, or None if the code is malformed."""
    for level in Level:
        if code_problem(code, level) is None:
            return level
    return None


def code_problem(code: str, level: Level) -> str | None:
    """Why `code` is not a well-formed code for `level` (English), or None when it is."""
    want = CODE_LENGTH[level]
    if not _digits(code) or len(code) != want:
        return f"{level.value} code must be {want} ASCII digits"
    if level is Level.CITY and (code[4:] != "00" or code[2:4] == "00"):
        return "city code must end in 00 (and not 0000, which is a province)"
    if level is Level.DISTRICT and code[4:] == "00":
        return "district/county code must not end in 00 (that is the city)"
    if level not in (Level.CITY, Level.DISTRICT) and code[-3:] == "000":
        return f"the last 3 digits of a {level.value} code must not be 000"
    return None


def parent_code_of(code: str) -> str | None:
    """The parent's code implied by a code's digits (None for a city or a malformed code)."""
    level = level_of_code(code)
    if level is None or level is Level.CITY:
        return None
    if level is Level.DISTRICT:
        return code[:4] + "00"
    return code[:-3]


def code_area_path(code: str) -> tuple[str, ...]:
    """Area path implied by the code's digits alone, city first. Raises ValueError if malformed."""
    if level_of_code(code) is None:
        raise ValueError(f"malformed place code: {code!r}")
    path = [code]
    while (parent := parent_code_of(path[-1])) is not None:
        path.append(parent)
    if level_of_code(path[-1]) is not Level.CITY:  # e.g. 000000001: its district is no code
        raise ValueError(f"malformed place code: {code!r} lies in no city")
    return tuple(reversed(path))


def join_path(codes: tuple[str, ...] | list[str]) -> str:
    """String form of an area path, e.g. '350300/350302/350302001'."""
    return AREA_PATH_SEP.join(codes)


def path_within(path: str, ancestor_path: str) -> bool:
    """True if the place at `path` is the place at `ancestor_path` or below it.

    Compares whole segments, so a plain prefix match that ends mid-code cannot leak a sibling;
    in SQL the same test is `path = :p OR path LIKE :p || '/%'`.
    """
    return path == ancestor_path or path.startswith(ancestor_path + AREA_PATH_SEP)
