"""Patterns of personal data that must never appear unmasked: mainland mobile numbers and
resident ID numbers (GB 11643, with its checksum and a real birth date, so that our own
18-digit place codes are not mistaken for one)."""

from __future__ import annotations

import re
from datetime import date

# Not inside a longer run of letters or digits: a UUID's hex tail is not a phone number.
MOBILE = re.compile(r"(?<![\dA-Za-z])1[3-9]\d{9}(?![\dA-Za-z])")
ID_CANDIDATE = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def is_resident_id(s: str) -> bool:
    if len(s) != 18 or not s[:17].isdigit():
        return False
    if CHECK[sum(int(d) * w for d, w in zip(s[:17], WEIGHTS, strict=True)) % 11] != s[17].upper():
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= date.today().year


def find_personal_data(text: str) -> list[str]:
    found = MOBILE.findall(text)
    found += [m for m in ID_CANDIDATE.findall(text) if is_resident_id(m)]
    return found
