"""Text features for duplicate detection, for Chinese without word segmentation and for
English: character bigrams over runs of Chinese characters, words and character trigrams
over Latin text, and the address numbers (门牌号, No. 18) that tell two shops on one street
apart. Pure functions: the same text always gives the same features."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Formulae the channels wrap every report in (12345 work orders, petitions, police
# notes). They say nothing about the problem, so they are removed before comparing.
BOILERPLATE = (
    "市民来电反映", "市民来电", "来电人反映", "来电反映", "来电人称", "信访人反映", "信访人",
    "报警人称", "报警人", "巡查发现", "网格员上报", "诉求", "请求", "要求", "希望",
    "有关部门", "相关部门", "尽快处理", "尽快解决", "予以处理", "请核实处理", "请核实",
    "转办", "特此反映", "请派人", "处理一下", "多次反映未果", "依法处理", "本人住在",
    "民警到场后建议转", "民警到场", "已拍照取证", "拍照取证", "反映", "投诉",
    "citizen reports", "caller reports", "resident reports", "please fix", "please",
    "asap", "kindly", "thanks", "thank you", "hello", "hi",
)
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z]+|\d+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
# House and building numbers: 18号, 3栋, 5号楼, 12弄; No. 18, #18, 18 Xxx Road.
_ADDR_ZH = re.compile(r"(\d{1,5})\s*(?:号楼|号|栋|幢|弄|巷|单元)")
_ADDR_EN = re.compile(
    r"(?:\bno\.?\s*|#\s*|\bnumber\s+)(\d{1,5})\b"
    r"|\b(\d{1,5})\s+[a-z]+(?:\s+[a-z]+)?\s+(?:road|rd|street|st|lane|ln|avenue|ave)\b")
_ENGLISH_STOP = frozenset(re.findall(r"\w+", """
    a an the of at on in to and or is are was were be been it its this that there here
    for from with by near next my our we i you they he she them his her very so too
    has have had not no but all any some just also again still"""))
MIN_GRAMS = 3  # fewer than this and a text tells nothing (empty, one character, noise)


@dataclass(frozen=True, slots=True)
class TextFeatures:
    grams: frozenset[str]
    addresses: frozenset[str]
    plain: str  # normalised, boilerplate removed, for edit-distance similarity

    @property
    def usable(self) -> bool:
        return len(self.grams) >= MIN_GRAMS


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, channel formulae removed."""
    t = unicodedata.normalize("NFKC", text).lower()
    for phrase in BOILERPLATE:
        t = t.replace(phrase, " ")
    return t


def features(title: str, description: str) -> TextFeatures:
    t = normalise(f"{title} {description}")
    grams: set[str] = set()
    for token in _TOKEN.findall(t):
        if _CJK_RUN.fullmatch(token):
            grams.update(_cjk_grams(token))
        elif token.isdigit():
            grams.add(f"#{token}")
        elif token not in _ENGLISH_STOP:
            grams.update(_latin_grams(token))
    addresses = {a for m in _ADDR_ZH.finditer(t) for a in m.groups() if a}
    addresses |= {a for m in _ADDR_EN.finditer(t) for a in m.groups() if a}
    plain = "".join(_TOKEN.findall(t))
    return TextFeatures(frozenset(grams), frozenset(addresses), plain)


def _cjk_grams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


def _latin_grams(word: str) -> list[str]:
    """The word (lightly stemmed) and its character trigrams, which survive typos."""
    stem = _stem(word)
    padded = f"<{stem}>"
    return [f"w:{stem}", *(f"t:{padded[i:i + 3]}" for i in range(len(padded) - 2))]


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
