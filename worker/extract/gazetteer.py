"""Respelling an address's units from its province down, with the official catalogue of every province
(worker/lexicons, every era: cards keep the names of the year they were issued).

An address on a card ends `commune, district, province`. Its last part names the province; the part before
it can only be one of that province's districts, the one before that one of that district's communes. So
few names are candidates at each step that a reading one letter off (`Thanh Hó`, `Thường Tn`) or with a
wrong diacritic (`Cằm Bình`, `Ba Bẻ`) is that unit's name whenever exactly one candidate is that close. A
part no candidate is close to stays as read, and so does everything before the commune (house, street,
hamlet: the catalogue has none of them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from rapidfuzz.distance import Levenshtein

from worker import lexicons
from worker.vntext import name_key

# unit types as printed before a name (the catalogue's, and their abbreviations)
_KIND_KEYS = ("THANH PHO", "THI TRAN", "THI XA", "PHUONG", "QUAN", "HUYEN", "TINH", "XA", "TP", "TX", "TT")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class _Names:
    provinces: dict[str, str]  # folded key -> spelling ("" when two spellings share a key)
    districts: dict[str, dict[str, str]]  # province key -> key -> spelling
    communes: dict[tuple[str, str], dict[str, str]]  # (province key, district key) -> key -> spelling


def _put(table: dict[str, str], name: str) -> None:
    key = name_key(name)
    table[key] = "" if table.get(key, name) != name else name


@cache
def _names() -> _Names:
    provinces: dict[str, str] = {}
    districts: dict[str, dict[str, str]] = {}
    communes: dict[tuple[str, str], dict[str, str]] = {}
    for u in lexicons.units():
        p = name_key(u.province)
        if u.level == "province":
            _put(provinces, u.short)
        elif u.level == "district":
            _put(districts.setdefault(p, {}), u.short)
        elif u.district:
            _put(communes.setdefault((p, name_key(u.district)), {}), u.short)
    return _Names(provinces, districts, communes)


def _closest(key: str, table: dict[str, str]) -> str | None:
    """The one spelling whose key equals `key`, or is within one edit of it (two for a long name)."""
    if key in table:
        return table[key] or None
    if len(key) < 5:
        return None
    limit = 2 if len(key) >= 12 else 1
    near = {v for k, v in table.items() if abs(len(k) - len(key)) <= limit and Levenshtein.distance(k, key) <= limit}
    near.discard("")
    return near.pop() if len(near) == 1 else None


def _respell_tail(part: str, table: dict[str, str], *, whole: bool) -> tuple[str, str | None, bool]:
    """The part with its last words (all of them when `whole`) respelled as a name in `table`, after any unit
    type; the matched name's key (None: no match, part unchanged); whether the words were that name's but
    for diacritics."""
    words = list(_WORD.finditer(part))
    if not words:
        return part, None, False
    # the unit type before the name, if any (`Thị trấn Chợ Rã`, `Huyện Ba Bể`) is no part of the name
    start = 0
    for kind in _KIND_KEYS:
        n = kind.count(" ") + 1
        if len(words) > n and " ".join(name_key(w.group(0)) for w in words[:n]) == kind:
            start = n
            break
    lengths = [len(words) - start] if whole else range(min(4, len(words) - start), 0, -1)
    for k in lengths:
        if k <= 0:
            continue
        span = words[len(words) - k :]
        key = name_key(" ".join(w.group(0) for w in span))
        spelling = _closest(key, table)
        if spelling:
            return part[: span[0].start()] + spelling + part[span[-1].end() :], name_key(spelling), key in table
    return part, None, False


def respell(address: str) -> str:
    """The address with its province, district and commune spelled as the catalogue spells them, as far
    down as each step finds its unit. A province read with a letter off, or one followed by a speck
    (`Bắc Kạn tử`, cut), counts only when the district before it is one of its own."""
    parts = address.split(",")
    if len(parts) < 2:
        return address
    names = _names()
    # the province: the last part, or the end of it when a wrapped line lost the comma (`Ba Bể Bắc Kạn`)
    last, province, sure = _respell_tail(parts[-1], names.provinces, whole=True)
    if province is None:
        last, province, sure = _respell_tail(parts[-1], names.provinces, whole=False)
        if province is None:
            last, province = _before_stray_words(parts[-1], names.provinces)
            sure = False
        if province is None:
            return address
        parts = [*parts[:-1], *_split_before(last, province)]
    else:
        parts[-1] = last
    if len(parts) < 2:
        return ",".join(parts) if sure else address
    district_part, district, _ = _respell_tail(parts[-2], names.districts.get(province, {}), whole=False)
    if district is None:
        return ",".join(parts) if sure else address
    parts[-2] = district_part
    communes = names.communes.get((province, district), {})
    if len(parts) >= 3 and not _names_other_commune(parts[-3], province, communes):
        parts[-3], _, _ = _respell_tail(parts[-3], communes, whole=False)
    else:
        parts[-2:-1] = _commune_before_district(district_part, district, communes)
    return ",".join(parts)


@cache
def _province_communes() -> dict[str, frozenset[str]]:
    """Province key -> the keys of every commune of the province, in any district and era."""
    out: dict[str, set[str]] = {}
    for (province, _), table in _names().communes.items():
        out.setdefault(province, set()).update(table)
    return {p: frozenset(keys) for p, keys in out.items()}


def _names_other_commune(part: str, province: str, communes: dict[str, str]) -> bool:
    """Whether the part's last words spell exactly a commune of another district of the province and none of
    this one's: the reading names a real place (the card may name it under its district of another era, or
    the district was misread), so respelling it one letter to this district's commune (`Quảng Hòa` to
    `Quảng Hợp`) would replace a reading by a guess. It stays as read; the lexicons then confirm only the
    district and province, which the confidence weighs."""
    keys = [name_key(w.group(0)) for w in _WORD.finditer(part)]
    others = _province_communes().get(province, frozenset())
    for k in range(min(4, len(keys)), 0, -1):
        key = " ".join(keys[-k:])
        if key in communes:
            return False
        if len(key) >= 5 and key in others:
            return True
    return False


def _commune_before_district(part: str, district: str, communes: dict[str, str]) -> list[str]:
    """A district part that begins with more words than the district's name (`Cảm Tân Cẩm Thủy`: a wrapped
    line lost the comma after the commune): those words, when all of them are one of the district's communes,
    as that commune's part; the part as it was otherwise."""
    words = list(_WORD.finditer(part))
    n = district.count(" ") + 1
    if len(words) <= n:
        return [part]
    cut = words[len(words) - n].start()
    head = part[:cut].rstrip()
    commune_part, commune, _ = _respell_tail(head, communes, whole=True)
    return [part] if commune is None else [commune_part, " " + part[cut:]]


def _before_stray_words(part: str, provinces: dict[str, str]) -> tuple[str, str | None]:
    """The part up to a province's name that one speck of a word follows (`Bắc Kạn tử`: at most three
    letters), and that province's key; (part, None) otherwise. More words after the province may be the
    value's own (a first line the layout pass put last), so they stay."""
    words = list(_WORD.finditer(part))
    if len(words) < 2 or len(words[-1].group(0)) > 3:
        return part, None
    for k in range(min(4, len(words) - 1), 0, -1):
        span = words[len(words) - 1 - k : len(words) - 1]
        key = name_key(" ".join(w.group(0) for w in span))
        if provinces.get(key):
            return part[: span[-1].end()], key
    return part, None


def _split_before(part: str, province: str) -> list[str]:
    """A last part holding `district province` without the comma, as two parts (the text is kept)."""
    words = list(_WORD.finditer(part))
    n = province.count(" ") + 1
    if len(words) <= n:
        return [part]
    cut = words[len(words) - n].start()
    return [part[:cut].rstrip(), " " + part[cut:]]


def has_kind(part: str) -> bool:
    """Whether a part of an address begins with a unit type (`TP. Huế`, `Thành phố Cà Mau`)."""
    key = " ".join(_WORD.findall(name_key(part)))
    return any(key.startswith(kind + " ") for kind in _KIND_KEYS)
