"""What a card's text value looks like, as evidence for its confidence where OCR's own confidences say little
(on real captures Tesseract is as sure of a garbled word as of a clean one):

- an address is checked against the official unit lexicons (worker/lexicons): does its last part name a
  province, the one before a district of that province, the one before that a commune of that district,
  spelled exactly as the catalogue spells it;
- a name or an address holds only words a Vietnamese syllable can be (`ia£E`, `g10VP`, `Place` cannot),
  house numbers and the usual abbreviations.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from worker import lexicons
from worker.vntext import name_key

# unit types as cards print or abbreviate them before a name (longest first)
_KINDS = (
    "thành phố", "thị trấn", "thị xã", "tỉnh", "quận", "huyện", "phường", "xã", "tp.", "tp", "tx.", "tx",
    "tt.", "tt", "p.", "q.", "h.", "x.",
)  # fmt: skip

# onset, vowels, final of a Vietnamese syllable, diacritics folded (`NGHIÊNG` → NGH + IE + NG)
_SYLLABLE = re.compile(r"(NGH|NG|NH|CH|GH|GI|KH|PH|QU|TH|TR|[BCDGHKLMNPQRSTVX])?[AEIOUY]{1,3}(NG|NH|CH|[CMNPT])?")
_HOUSE_NUMBER = re.compile(r"\d+[A-Za-z]?(?:[/-]\d+[A-Za-z]?)*")
_ABBREVIATION = re.compile(r"(?:TP|Tp|TX|Tx|TT|TDP|KV|KP|P|Q|H|X|K|Đ)\.?")


@dataclass(frozen=True)
class TextEvidence:
    places: int  # units confirmed by the lexicon from the end of an address (0-3; 0 for a name)
    junk: int  # words that cannot be a Vietnamese syllable, a house number or an abbreviation
    unchecked: int = 0  # parts of an address before the ones confirmed (hamlet, street: in no catalogue)


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _short(part: str) -> str:
    p = _fold(part)
    for kind in _KINDS:
        if p.startswith(kind + " ") or (kind.endswith(".") and p.startswith(kind)):
            rest = p[len(kind) :].strip()
            return rest if rest else p
    return p


@cache
def _gazetteer() -> tuple[frozenset[str], dict[str, frozenset[str]], dict[tuple[str, str], frozenset[str]]]:
    """Province short names; district names by province; commune names by (province, district), every
    era (cards keep the names of the year they were issued), spelled as the catalogue spells them."""
    provinces: set[str] = set()
    districts: dict[str, set[str]] = {}
    communes: dict[tuple[str, str], set[str]] = {}
    for u in lexicons.units():
        province = _fold(u.province)
        if u.level == "province":
            provinces.add(_fold(u.short))
        elif u.level == "district":
            districts.setdefault(province, set()).add(_fold(u.short))
        else:
            communes.setdefault((province, _fold(u.district)), set()).add(_fold(u.short))
    # `Thừa Thiên Huế` became the city `Huế` in 2025: a card printed before names the old province
    return (
        frozenset(provinces),
        {k: frozenset(v) for k, v in districts.items()},
        {k: frozenset(v) for k, v in communes.items()},
    )


def places_confirmed(address: str) -> int:
    """How many administrative units, from the end of the address, the lexicons confirm in order."""
    parts = [_short(p) for p in address.split(",") if p.strip()]
    if not parts:
        return 0
    provinces, districts, communes = _gazetteer()
    words = parts[-1].split()
    if parts[-1] not in provinces:
        # a value wrapped onto a second line loses the comma the line break stood for (`Nga Sơn Thanh Hóa`)
        for k in range(min(4, len(words) - 1), 0, -1):  # the longest name first (`Thừa Thiên Huế`, not `Huế`)
            if " ".join(words[-k:]) in provinces:
                parts = [*parts[:-1], _short(" ".join(words[:-k])), " ".join(words[-k:])]
                break
    province = parts[-1]
    if province not in provinces:
        return 0
    if len(parts) < 2 or parts[-2] not in districts.get(province, ()):
        return 1
    if len(parts) < 3 or parts[-3] not in communes.get((province, parts[-2]), ()):
        return 2
    return 3


def junk_words(text: str) -> int:
    """Words that are no syllable, house number or abbreviation (OCR noise, label text, merged columns)."""
    bad = 0
    for token in re.split(r"[\s,;]+", text):
        word = token.strip(".,;:()")
        if not word or _HOUSE_NUMBER.fullmatch(word) or _ABBREVIATION.fullmatch(token.strip(",;")):
            continue
        if not all(ch.isalpha() for ch in word) or not _SYLLABLE.fullmatch(name_key(word)) or _mixed_case(word):
            bad += 1
    return bad


def _mixed_case(word: str) -> bool:
    """A capital after a small letter, or a small letter after two capitals (`VINh`, `ĐàNẵng`): no word is
    printed so, a read fused or garbled one."""
    ls = [c for c in word if c.isalpha()]
    return any(
        (ls[i].isupper() and ls[i - 1].islower())
        or (i >= 2 and ls[i].islower() and ls[i - 1].isupper() and ls[i - 2].isupper())
        for i in range(1, len(ls))
    )


def is_syllable(word: str) -> bool:
    """Whether a word (any case, diacritics or none) can be one Vietnamese syllable."""
    return bool(word) and word.isalpha() and bool(_SYLLABLE.fullmatch(name_key(word)))


# letters OCR reads for the `<` filler of a machine-readable zone
_FILLER_MISREADS = "KC"


def repair_mrz_name_line(line: str) -> tuple[str, int]:
    """The zone's name line with fillers read as letters put back (`NGUYEN<<VAN<KDIEP` →
    `NGUYEN<<VAN<<DIEP`): a `K` or `C` at the edge of a name part that no syllable can hold, when the part
    without it is one. Returns the line and how many fillers were put back."""
    out: list[str] = []
    fixed = 0
    for part in re.split(r"(<+)", line):
        if part and not part.startswith("<") and not is_syllable(part):
            # one misread filler at either edge (`KKHOA` is `<KHOA`, not `<<HOA`)
            head = int(part[0] in _FILLER_MISREADS)
            tail = int(len(part) > 1 and part[-1] in _FILLER_MISREADS and not is_syllable(part[head:]))
            core = part[head : len(part) - tail]
            if (head or tail) and is_syllable(core):
                part, fixed = "<" * head + core + "<" * tail, fixed + 1
        out.append(part)
    return "".join(out), fixed


def address_evidence(address: str) -> TextEvidence:
    places = places_confirmed(address)
    parts = sum(1 for p in address.split(",") if p.strip())
    junk = junk_words(address) + _bare_hamlet(address, places)
    return TextEvidence(places, junk, max(0, parts - places) if places else 0)


# hamlet-level unit words, folded: each is followed by the hamlet's number or name
_HAMLET_WORDS = frozenset({"xóm", "thôn", "tổ", "ấp", "đội", "khóm", "cụm", "buôn", "bản", "khu", "kv", "tdp"})


def _bare_hamlet(address: str, places: int) -> int:
    """1 when the part before the district is a hamlet's unit word followed by nothing but that district's
    commune (`Xóm Chương Dương, ...`): the hamlet's number or name was lost by the read (a speck dropped)."""
    parts = [p for p in address.split(",") if p.strip()]
    if places != 2 or len(parts) < 3:
        return 0
    words = _fold(parts[-3]).split()
    if len(words) < 2 or words[0] not in _HAMLET_WORDS:
        return 0
    _, _, communes = _gazetteer()
    return int(" ".join(words[1:]) in communes.get((_short(parts[-1]), _short(parts[-2])), ()))


# phrases of a card's titles that no name holds (`CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM` taken for the name)
_TITLE_PHRASES = ("CONG HOA", "XA HOI", "CHU NGHIA", "CAN CUOC", "DOC LAP", "CHUNG MINH")


def name_evidence(name: str) -> TextEvidence:
    """A name is two to six syllables and holds no title phrase."""
    words = name.split()
    key = f" {name_key(name)} "
    title = any(f" {t} " in key for t in _TITLE_PHRASES)
    return TextEvidence(0, junk_words(name) + (not 2 <= len(words) <= 6) + title)
