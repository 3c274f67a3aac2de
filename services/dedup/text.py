"""Text features for duplicate detection, for Chinese without word segmentation and for
English: character bigrams over runs of Chinese characters, words and character trigrams
over Latin text, the address numbers (门牌号, No. 18) that tell two shops on one street
apart, and pinyin syllable pairs that let a Chinese report meet an English one about the
same place (名字的拼音: 老王烧烤 ~ "Lao Wang BBQ", 文献路 ~ "Wenxian Road").

Nothing here knows any channel's wording: the formulae a channel wraps every report in
(12345 work orders, petitions, police notes) are recognised from the data by the index
(grams most of one channel's reports carry weigh nothing, see CaseIndex.weight).
Pure functions: the same text always gives the same features.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import pairwise

from pypinyin import Style, lazy_pinyin

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A run of letters and digits mixed (a plate 闽B12345, a code a3f9c2, 5th) is one token:
# split, its single letters and digits were rare grams that two unrelated codes share.
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z\d]*(?:[a-z]\d|\d[a-z])[a-z\d]*|[a-z]+|\d+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
# House and building numbers: 18号, 3栋, 5号楼, 12弄; No. 18, #18, 18 Xxx Road.
_ADDR_ZH = re.compile(r"(\d{1,5})\s*(?:号楼|号|栋|幢|弄|巷|单元)")
_ADDR_EN = re.compile(
    r"(?:\bno\.?\s*|#\s*|\bnumber\s+|\bblock\s+|\bbuilding\s+)(\d{1,5})\b"
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
    pinyin: frozenset[str]  # pairs of adjacent syllables, "p:wen|xian", both languages
    chars: frozenset[str]  # single Chinese characters: how rare a bigram's parts are
    subject: frozenset[str]  # what is at fault, named after the address (see `subject_of`)
    latin: bool  # mostly Latin script: compared with Chinese through `pinyin`

    @property
    def usable(self) -> bool:
        return len(self.grams) >= MIN_GRAMS


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@lru_cache(maxsize=8192)  # a report's text is read when decided and when indexed
def features(title: str, description: str) -> TextFeatures:
    t = normalise(f"{title} {description}")
    grams: set[str] = set()
    cjk = latin = 0
    for token in _TOKEN.findall(t):
        if _CJK_RUN.fullmatch(token):
            grams.update(_cjk_grams(token))
            cjk += len(token)
        elif token.isdigit():
            grams.add(f"#{token}")
        elif not token.isalpha():  # a code: the same one says much, another one nothing
            grams.add(f"c:{token}")
        elif token not in _ENGLISH_STOP:
            grams.update(_latin_grams(token))
            latin += len(token)
    addresses = {a for m in _ADDR_ZH.finditer(t) for a in m.groups() if a}
    addresses |= {a for m in _ADDR_EN.finditer(t) for a in m.groups() if a}
    chars = frozenset(_CJK_CHAR.findall(t))
    subject = subject_of(unicodedata.normalize("NFKC", f"{title}. {description}"))
    return TextFeatures(frozenset(grams), frozenset(addresses), frozenset(_pinyin_pairs(t)),
                        chars, subject, latin > cjk)


# A Chinese address is road, house number, then the place itself (文献路18号老王烧烤店):
# the first characters after the first road name and number are what the report is about.
_AFTER_ROAD = re.compile(
    rf"[{_CJK}]{{1,4}}?(?:路|街|大道|巷|弄)(?:\d+\s*号)?(?:附近|旁边|一带|对面)?[,，、\s]*"
    rf"([{_CJK}]{{2,4}})")
# English names are capitalised: "Lao Wang BBQ", "Meifeng Estate" (not a road's name).
_TITLE_RUN = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w']*(?:\s+[A-Z][\w']*)*)")
_ROAD_WORDS = frozenset(("road", "rd", "street", "st", "avenue", "ave", "lane", "ln"))


def subject_of(text: str) -> frozenset[str]:
    """The name of the place at fault: in Chinese the (up to) four characters after the
    first road name and house number, as bigrams; in English the capitalised words of
    names that are not roads. Empty when the text names no place this way."""
    m = _AFTER_ROAD.search(text)
    if m:
        return frozenset(_cjk_grams(m.group(1)))
    words: set[str] = set()
    for run in _TITLE_RUN.findall(text):
        parts = [w.lower().removesuffix("'s") for w in run.split()]
        if parts[-1] not in _ROAD_WORDS:
            for w in parts:  # trigrams: a typo in a name leaves most of it
                if w not in _ENGLISH_STOP:
                    words.update(_latin_grams(w)[1:])
    return frozenset(words)


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


# -- pinyin: names written in either script -----------------------------------------------

def _pinyin_pairs(t: str) -> set[str]:
    """Adjacent syllable pairs within each run of Chinese characters, and within each run
    of Latin words that read as pinyin ("wenxian road" -> wen|xian): the romanised names
    of places and shops, the part of a report that survives translation."""
    pairs: set[str] = set()
    for run in _syllable_runs(t):
        pairs.update(f"p:{a}|{b}" for a, b in pairwise(run))
    return pairs


def _syllable_runs(t: str) -> list[list[str]]:
    runs: list[list[str]] = []
    current: list[str] = []
    for token in re.findall(rf"[{_CJK}]+|[a-z]+|[^\s{_CJK}a-z]+", t):
        if _CJK_RUN.fullmatch(token):
            current.extend(_char_syllable(c) for c in token)
            continue
        syllables = _split_pinyin(token) if token.isalpha() else None
        if syllables and token not in _ENGLISH_STOP:
            current.extend(syllables)
        else:
            if len(current) > 1:
                runs.append(current)
            current = []
    if len(current) > 1:
        runs.append(current)
    return runs


@cache
def _char_syllable(char: str) -> str:
    return lazy_pinyin(char, style=Style.NORMAL, v_to_u=False)[0]


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j",
             "q", "x", "r", "z", "c", "s", "y", "w", "")
_FINALS = frozenset(("a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong",
                     "er", "i", "ia", "ie", "iao", "iu", "ian", "in", "iang", "ing", "iong",
                     "u", "ua", "uo", "uai", "ui", "uan", "un", "uang", "ueng", "v", "ve",
                     "van", "vn", "ue"))


@cache
def _is_syllable(s: str) -> bool:
    for initial in _INITIALS:
        if s.startswith(initial) and s[len(initial):] in _FINALS:
            return initial != "" or s[0] in "aoe"
    return False


@cache
def _split_pinyin(word: str) -> tuple[str, ...] | None:
    """A Latin word as pinyin syllables (fewest syllables), or None if it does not read
    as pinyin: "wenxian" -> (wen, xian), "road" -> None."""
    if len(word) > 24:
        return None
    best: list[tuple[str, ...] | None] = [None] * (len(word) + 1)
    best[0] = ()
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            head = best[start]
            if head is not None and _is_syllable(word[start:end]):
                cand = (*head, word[start:end])
                if best[end] is None or len(cand) < len(best[end] or ()):
                    best[end] = cand
    return best[len(word)]
