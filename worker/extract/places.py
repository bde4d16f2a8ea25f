"""Place-name spelling for addresses read off cards: provinces, the wards, communes and districts of Huế and
its neighbours Quảng Trị and Quảng Bình in every era (worker/lexicons: the official catalogue before 2021,
2021-2024, January 2025 and after the July 2025 reform), and the administrative words. Like the name lexicon, a correction only ever changes
diacritics: a run of words whose folded letters equal a known name takes that name's spelling
(`Quảng Tri` → `Quảng Trị`, `Phuờng` → `Phường`). House numbers, streets and everything unknown stay as read.
These are public administrative names, not personal data (worker/extract/data/admin_words.txt and the
official lists; no street or village list: the catalogue has none)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from rapidfuzz.distance import Levenshtein

from worker import lexicons
from worker.extract import gazetteer
from worker.extract.data import word_list
from worker.extract.validate import PROVINCE_CODES
from worker.vntext import clean, name_key

# the provinces whose units the addresses on Huế's documents name
_REGION = ("Thừa Thiên Huế", "Huế", "Quảng Trị", "Quảng Bình")


def _official_places() -> set[str]:
    """Short names of the region's units in every era, and every province's name. A one-word unit name
    (`Thanh`) is left out: it would respell that word inside any other name."""
    return {
        u.short
        for u in lexicons.units()
        if u.level == "province" or (u.province in _REGION and (" " in u.short or u.short[-1:].isdigit()))
    }


# sub-commune units the catalogue does not list: the name after one of them stays as read
_VILLAGE_WORD = re.compile(r"(?:^|[\s,])(?:THON|TO DAN PHO|KHU VUC|XOM|AP|BUON|LANG)\s*$")


@cache
def _table() -> dict[str, str]:
    """Folded key → canonical spelling, longest names first so `Thừa Thiên Huế` beats `Huế`."""
    names = {clean(n) for n in (*word_list("admin_words"), *_official_places(), *PROVINCE_CODES.values())}
    by_key: dict[str, str] = {}
    for n in names:
        key = name_key(n)
        # two names with the same letters (Phú Hòa / Phù Hòa): no safe choice, leave the reading alone
        by_key[key] = "" if key in by_key and by_key[key] != n else n
    return {k: v for k, v in by_key.items() if v}


def _near(key: str, words: int) -> str | None:
    # one edit for a short name, two for a long one: `Tiên Hoàng` is two edits from `Tiền Giang`
    limit = 2 if len(key) >= 14 else 1
    hits = [
        k
        for k in _keys_by_words().get(words, ())
        if abs(len(k) - len(key)) <= limit and Levenshtein.distance(k, key) <= limit
    ]
    return hits[0] if len(hits) == 1 else None


@cache
def _admin_keys() -> frozenset[str]:
    return frozenset(name_key(w) for w in word_list("admin_words"))


def is_admin_word(word: str) -> bool:
    """Whether a word is one of the administrative words (`Xã`, `Thôn`, `Phường`), in any spelling."""
    return name_key(word) in _admin_keys()


@cache
def _known_words() -> frozenset[str]:
    return frozenset(w for k in _table() for w in k.split())


@cache
def _longest_name() -> int:
    """The most words a known name has (the longest run `correct` tries), counted once, not per address."""
    return max(k.count(" ") + 1 for k in _table())


@cache
def _keys_by_words() -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for k in _table():
        if len(k) >= 10:
            out.setdefault(k.count(" ") + 1, []).append(k)
    return {n: tuple(ks) for n, ks in out.items()}


_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


def respell_runs(
    text: str, replacement: Callable[[list[re.Match[str]]], str | None], *, max_words: int, min_words: int = 1
) -> str:
    """Replace runs of words, longest first, by what `replacement` gives for a run's word matches (None: leave
    the run); the text between runs (numbers, punctuation, unknown words) is kept as it is. The one loop
    behind every respelling of names read by OCR (places here, streets and villages on certificates)."""
    tokens = list(_TOKEN.finditer(text))
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        for n in range(min(max_words, len(tokens) - i), min_words - 1, -1):
            span = tokens[i : i + n]
            new = replacement(span)
            if new is not None:
                out.append(text[last : span[0].start()])
                out.append(new)
                last = span[-1].end()
                i += n
                break
        else:
            i += 1
    out.append(text[last:])
    return "".join(out)


_KIND_BEFORE = re.compile(r"(?:^|\s)(?:THANH PHO|THI XA|THI TRAN|TINH|QUAN|HUYEN|PHUONG|XA|TP|TX|TT)\W*$")


def _opens_place(before: str) -> bool:
    """Whether a name after this text begins a part of the address (after a comma, or a unit type)."""
    return not re.search(r"[^\s,]\s*$", before) or bool(_KIND_BEFORE.search(name_key(before)))


def correct(address: str) -> str:
    """Respell known place names in an address read by OCR; punctuation, numbers and unknown words kept."""
    table = _table()

    def place(span: list[re.Match[str]]) -> str | None:
        n = len(span)
        # a name never spans a comma or a dot: `Vang, Thừa` is two places (a stray `-` is OCR noise)
        between = address[span[0].start() : span[-1].end()]
        if n > 1 and re.search(r"[,.;/()]", between):
            return None
        key = name_key(" ".join(t.group(0) for t in span))
        if key not in _admin_keys() and _VILLAGE_WORD.search(name_key(address[: span[0].start()])):
            return None  # a village's name (`Thôn Thủy Phú`) is in no official list: kept as read
        canonical = table.get(key)
        if (
            canonical is not None
            and key in _admin_keys()
            and " " not in key
            and re.search(r"[^\s,]\s*$", address[: span[0].start()])
        ):
            # a one-word administrative word only where one begins a part (`Xã Phú Dương`), never inside a
            # name (`Thôn Văn Xá` must not become `Văn Xã`); a two-word one (`Thị trấn`) is no name's words,
            # and begins a part wherever it stands (a wrapped line's comma is often lost: `Khóm 4 Thị trấn`)
            canonical = None
        if (
            canonical is not None
            and " " not in key
            and key not in _admin_keys()
            and not _opens_place(address[: span[0].start()])
        ):
            # a one-word name (`Huế`) is a syllable of other names too (`Nguyễn Huệ`, a street): respelled
            # only where a part begins or after a unit type (`TP. Huê`), never inside a street's name
            canonical = None
        if canonical is None and len(key) >= 10 and not all(w in _known_words() for w in key.split()):
            # a garbled word (`Thiêền` for `Thiên`) inside a long name: at most two edits, same word
            # count, and only when some word is not a known one (`Huyện Quảng` must not become
            # `Tuyên Quang`)
            near = _near(key, n)
            canonical = table.get(near) if near else None
        if canonical is None:
            return None
        # keep the reading's capitalisation of the first letter (`xã` inside an address stays lower)
        part_start = not re.search(r"[^\s,]\s*$", address[: span[0].start()])
        lower = not span[0].group(0)[0].isupper() and not part_start
        return canonical[0].lower() + canonical[1:] if lower else canonical

    return gazetteer.respell(respell_runs(address, place, max_words=_longest_name()))
