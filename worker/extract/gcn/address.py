"""Addresses read by OCR, respelled where only tone marks went wrong: the unit words, the administrative
names (the stage's place gazetteer, worker/extract/places.py) and Huế's multi-word street names from the
official list (worker/lexicons: street names read in the province's own pages; no outside list of villages
exists, so village names stay as read)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache

from rapidfuzz.distance import Levenshtein

from worker import lexicons
from worker.extract import places
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.images import PageImages
from worker.extract.gcn.text import PageText
from worker.vntext import clean, name_key

# addresses: the words and names certificates print, respelled when OCR loses or swaps their tone marks.
# A street name is only ever replaced by one with the same letters (diacritics differ), and only as a
# whole run of two or more words, so a single syllable (`Dương` in `Dương Văn An`, `Huệ`) is never forced
# onto another word.
_UNIT_WORDS = (
    "phường", "xã", "thị trấn", "thị xã", "thành phố", "huyện", "tỉnh", "quận", "thôn", "tổ dân phố", "tổ",
    "kiệt", "hẻm", "ngõ", "khu vực", "khu phố", "số",
)  # fmt: skip


@cache
def _gazetteer() -> dict[str, str]:
    """Folded key of a multi-word name → its spelling; keys two spellings share are dropped (ambiguous)."""
    table: dict[str, str] = {}
    for name in lexicons.streets():
        if " " not in name:
            continue
        key = name_key(name)
        table[key] = "" if key in table and table[key] != name else name
    return {k: v for k, v in table.items() if v}


@cache
def _units() -> dict[str, str]:
    return {name_key(u): u for u in _UNIT_WORDS}


_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _respell_streets(text: str) -> str:
    """Whole multi-word street and village names (two to four words) whose letters equal a known one."""
    table = _gazetteer()

    def street(span: list[re.Match[str]]) -> str | None:
        if re.search(r"[^\w\s]", text[span[0].start() : span[-1].end()]):
            return None  # a name never spans punctuation
        return table.get(name_key(" ".join(t.group(0) for t in span))) or None

    return places.respell_runs(text, street, max_words=4, min_words=2)


def _keep_case(original: str, corrected: str) -> str:
    """The corrected spelling with the original's capitalisation (`huyện` stays lower case on a
    certificate even where a gazetteer lists `Huyện`)."""
    a, b = list(_WORD.finditer(original)), list(_WORD.finditer(corrected))
    if len(a) != len(b):
        return corrected
    out, last = [], 0
    for wa, wb in zip(a, b, strict=True):
        word = wb.group(0)
        if name_key(wa.group(0)) == name_key(word) and wa.group(0)[:1].islower() != word[:1].islower():
            word = (word[0].lower() if wa.group(0)[:1].islower() else word[0].upper()) + word[1:]
        out.append(corrected[last : wb.start()])
        out.append(word)
        last = wb.end()
    out.append(corrected[last:])
    return "".join(out)


def _respell_unit(part: str) -> str:
    """The unit word opening an address component (`phuòng Vĩnh Ninh`), and `Kiệt`/`Hẻm`/`Ngõ` before a
    lane number; nowhere else, so names sharing letters with a unit (`Tố Hữu`, `Hương Sơ`) are safe."""
    m = re.match(r"(\s*)((?:[^\W\d_]+\s*){1,3})", part)
    if m:
        words = list(_WORD.finditer(m.group(2)))
        for n in range(min(3, len(words)), 0, -1):
            unit = _units().get(name_key(" ".join(w.group(0) for w in words[:n])))
            if unit and (n > 1 or unit not in ("số", "tổ") or re.match(r"\s*\d", part[m.start(2) + words[0].end() :])):
                first = words[0].group(0)
                unit = (unit[0].upper() if first[:1].isupper() else unit[0]) + unit[1:]
                start, end = m.start(2) + words[0].start(), m.start(2) + words[n - 1].end()
                part = part[:start] + unit + part[end:]
                break

    def lane(mm: re.Match[str]) -> str:
        word = _units().get(name_key(mm.group(1)))
        return (
            (word[0].upper() + word[1:] if mm.group(1)[:1].isupper() else word) + mm.group(2) if word else mm.group(0)
        )

    return re.sub(r"(?<![\w])((?i:ki[eêệẹểếề]t|h[eẻ]m|ng[oõ]))(\s+\d)", lane, part)


def canonical_address(text: str) -> str:
    """Respell an address read by OCR, component by component: the unit words (`phuòng` → `phường`),
    the administrative names after them (the extract stage's gazetteer, worker/extract/places.py), and in
    the first component only whole multi-word street and village names (`Trường Chỉnh` → `Trường Chinh`).
    House numbers and unknown words stay as read."""
    # addresses print commas between components and no other punctuation: OCR's `;` is a comma, a `:`
    # inside a name (`Lê: Lợi`) a speck
    text = re.sub(r"\s*;\s*", ", ", text)
    text = re.sub(r"(?<=\w)\s*:\s*(?=\w)", " ", text)
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r"(?<=\d)\.(?=[^\W\d_])", " ", text)
    # a house number prints its parts joined (`242/30`): a gap OCR put beside the slash is no part of it
    text = re.sub(r"(?<=\d)\s*/\s*(?=\d)", "/", text)
    text = re.sub(r"(?i)\b(ki[eệ]t|h[eẻ]m|ng[oõ]|t[oổ])(?=\d)", r"\1 ", text)
    parts = text.split(",")
    out = []
    for i, part in enumerate(parts):
        fixed = _respell_unit(part)
        # the first component is the house number and street; the rest are administrative units
        out.append(_respell_streets(fixed) if i == 0 else _keep_case(fixed, places.correct(fixed)))
    return ",".join(_official_chain(out))


# the unit kinds an address prints before a name, lower case as certificates print them inside an address
_KINDS = ("thành phố", "thị trấn", "thị xã", "phường", "quận", "huyện", "tỉnh", "xã")


@lru_cache(maxsize=8192)
def _fold(text: str) -> str:
    # the chain search folds the same few hundred strings (the unit kinds, the catalogue's names, the
    # components read) a hundred thousand times on a page of addresses
    return name_key(text).lower()


@cache
def _chains() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Every commune's chain of unit names, commune to province (short names, `Vĩnh Ninh`, `Huế`,
    `Thừa Thiên Huế`), in every era of the official catalogue (worker/lexicons): with its district until the
    2025 reform, without after it; by the province's folded name."""
    out: dict[str, set[tuple[str, ...]]] = {}
    for u in lexicons.units():
        if u.level == "commune":
            chain = (u.short, u.district, u.province) if u.district else (u.short, u.province)
            out.setdefault(_fold(u.province), set()).add(chain)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _kind_of(part: str) -> tuple[str, str] | None:
    """(the unit kind opening an address component, within one misread letter, as the print has it; the
    name after it): `buyện Phú Vang` → (`huyện`, `Phú Vang`)."""
    words = part.split()
    for n in (2, 1):
        if len(words) <= n:
            continue
        head = _fold(" ".join(words[:n]))
        for kind in _KINDS:
            key = _fold(kind)
            if key.count(" ") + 1 == n and Levenshtein.distance(head, key) <= (1 if len(key) >= 4 else 0):
                first = words[0]
                printed = kind[0].upper() + kind[1:] if first[:1].isupper() else kind
                return printed, " ".join(words[n:])
    return None


def _unit_cost(part: str, name: str) -> tuple[int, str] | None:
    """How far a component read (`phường [rương An`) is from a unit's name (`Trường An`), in edits of the
    folded letters, and the component spelled with it; None when it is too far for a misread."""
    key = _fold(name)
    limit = max(1, len(key) // 4)
    # a unit whose name holds its kind (`Phường Đúc`) is printed without another one
    if name.split()[0].casefold() in (k.split()[0] for k in _KINDS):
        cost = Levenshtein.distance(_fold(part), key)
        if cost <= limit:
            return cost, name
    kind = _kind_of(part)
    if kind is None:
        return None
    cost = Levenshtein.distance(_fold(kind[1]), key)
    return (cost, f"{kind[0]} {name}") if cost <= limit else None


def _official_chain(parts: list[str]) -> list[str]:
    """The administrative components ending an address (commune, district, province; or commune, province
    after the 2025 reform) respelled as the one official chain of units they read as, each within a few
    misread letters (`thành phố Húc`, `tỉnh Thừa 1iuên Huế`, `phường Hương long`). Two chains as near
    (another era's names aside) leave the reading alone, and so does a street-less address."""
    for k in (3, 2):
        if len(parts) < k + 1:
            continue
        tail = [p.strip() for p in parts[-k:]]
        best: dict[tuple[str, ...], int] = {}
        for chains in (_chains().get(_fold(c)) for c in _province_names(tail[-1])):
            for chain in chains or ():
                if len(chain) != k:
                    continue
                costs = [_unit_cost(p, name) for p, name in zip(tail, chain, strict=True)]
                if all(c is not None for c in costs):
                    spelled = tuple(c[1] for c in costs if c is not None)
                    total = sum(c[0] for c in costs if c is not None)
                    best[spelled] = min(total, best.get(spelled, total))
        if not best:
            continue
        low = min(best.values())
        winners = [sp for sp, cost in best.items() if cost == low]
        if len(winners) != 1:
            return parts
        lead = [p[: len(p) - len(p.lstrip())] for p in parts[-k:]]
        return parts[:-k] + [sp_lead + sp for sp_lead, sp in zip(lead, winners[0], strict=True)]
    return parts


def _province_names(part: str) -> list[str]:
    """The provinces a component read as the province could be (its name within a few misread letters)."""
    named = _kind_of(part)
    key = _fold(named[1] if named else part)
    return [p for p in _chains() if Levenshtein.distance(key, p) <= max(1, len(p) // 4)]


@cache
def _official_names() -> frozenset[str]:
    return frozenset(clean(n).casefold() for n in (*lexicons.place_names(), *lexicons.streets()))


_LEAD = re.compile(
    r"^\s*(?:(?:số|kiệt|hẻm|ngõ|ngách|thôn|tổ dân phố|tổ|khu vực|khu phố|đường|"
    + "|".join(sorted((re.escape(u.lower()) for u in (*lexicons.UNIT_KINDS, *_UNIT_WORDS)), key=len, reverse=True))
    + r")\b\.?\s*|[\d/.\-]+\s*)+",
    re.IGNORECASE,
)


def address_spelled_known(text: str) -> bool:
    """Whether each part of an address (its street, then each unit) is a name an official list spells
    exactly so. A street named after a person, or a village, is in no list the reader has: a tone OCR
    moved there (`Từ` for `Tử`) cannot be checked, so such an address is reported below certainty."""
    for part in clean(text).split(","):
        name = _LEAD.sub("", part).strip(" .").casefold()
        if name and name not in _official_names():
            return False
    return True


# the house number opening an address (`269/51`, `12A`, `Kiệt 5`'s number): digits, slashes and a letter
_HOUSE_NUMBER = re.compile(r"^\s*(?:(?:số|kiệt|hẻm|ngõ)\s*)?(\d[\d/]*[A-Z]?)(?![\w/])", re.IGNORECASE)


def house_number_span(raw: str) -> tuple[int, int] | None:
    """Where the house number opening an address's text is, if it opens with one."""
    m = _HOUSE_NUMBER.match(raw)
    return m.span(1) if m else None


def plausible_house_number(number: str) -> bool:
    """House numbers print each part in at most four digits (`269/51`, `1264/78/114`): a longer run is
    parts whose slash was lost."""
    return all(len(re.sub(r"\D", "", part)) <= 4 for part in number.split("/"))


def weigh_house_number(ev: Evidence, number: str, again: str, third: Callable[[], str] | None = None) -> str:
    """The house number read again from its own region (digits and slash only) against the address's
    reading: agreement backs the address; the same digits with a slash the first reading lost take the
    slash. Another answer is settled by a third reading (the eng model): the layout's number backed by it
    stands, contradicted by both the address is not certain. Returns the number kept."""
    digits = re.sub(r"[^\d/]", "", number)
    again = re.sub(r"[^\d/]", "", again)
    if not again:
        return number
    if again == digits:
        ev.agree += 1
        ev.sources.append("reread")
        return number
    ev.disagree += 1
    lost_slash = again.replace("/", "") == digits.replace("/", "") and again.count("/") > digits.count("/")
    if lost_slash and plausible_house_number(again) and isinstance(ev.value, str) and number in ev.value:
        ev.value = ev.value.replace(number, again, 1)
        ev.repaired = True
        ev.sources.append("reread")
        return again
    last = re.sub(r"[^\d/]", "", third()) if third is not None else ""
    if last == digits:
        ev.agree += 1
        ev.sources.append("reread")
    elif last == again:
        ev.check = -1
    return number


_LETTERS = re.compile(r"[^\W\d_]+")


def vote_street_words(layout: str, rereads: list[str]) -> dict[int, str]:
    """Which words of the street read by the layout pass (`Hồ Đặc Di`) every re-reading of its own region
    (two at least; one that read nothing abstains) spells otherwise with the same letters (`Hồ Đắc Di`):
    {index among the layout's words: spelling}. A tone or case the small page text lost comes back at line
    size; a re-reading with other letters or another count of words is of something else (a seal's rim, a
    cut word), and then nothing is changed."""
    words = [m.group(0) for m in _LETTERS.finditer(layout)]
    # a re-reading that found no letters at all says nothing either way
    readings = [found for r in rereads if (found := [m.group(0) for m in _LETTERS.finditer(r)])]
    usable = [r for r in readings if [name_key(w) for w in r] == [name_key(w) for w in words]]
    if len(usable) < 2 or len(usable) < len(readings):
        return {}
    out = {}
    for i, word in enumerate(words):
        spellings = {r[i] for r in usable}
        if len(spellings) == 1 and (other := spellings.pop()) != word:
            out[i] = other
    return out


def reread_street(ev: Evidence, t: PageText, pg: PageImages, start: int, end: int) -> None:
    """The street or village name opening an address (no official list spells those) read again from its
    own region at line size; tones that every re-reading (three: two sizes, two margins) gives otherwise
    replace the layout's (`Đặc` → `Đắc`), and the address counts as repaired. House numbers, lane and unit words (respelled from their
    own list) and a name an official list spells are left alone."""
    raw = t.raw[start:end]
    comma = raw.find(",")
    if comma <= 0 or not isinstance(ev.value, str) or "," not in ev.value:
        return
    head, rest = ev.value.split(",", 1)
    # the name as the value holds it, after its house number, lane and unit words
    lead = _LEAD.match(head)
    offset = lead.end() if lead else 0
    name = head[offset:]
    if not _LETTERS.search(name) or clean(name).strip(" .").casefold() in _official_names():
        return
    raw_lead = _LEAD.match(raw[:comma])
    box = t.tight_box(start + (raw_lead.end() if raw_lead else 0), start + comma)
    if box is None:
        return
    first = pg.read(box)[0]
    if not vote_street_words(name, [first, first]):
        return  # the re-reading agrees with the layout's, or is of something else: no more needed
    # a tone mark is a few pixels: a speck of the line below or the comma after the name reads as one at
    # one size or margin and not at another, so every re-reading (other size, tighter margin) must agree
    fixes = vote_street_words(name, [first, pg.read(box, zoom=1.4)[0], pg.read(box, pad=0.15)[0]])
    if not fixes:
        return
    matches = list(_LETTERS.finditer(name))
    for i in sorted(fixes, reverse=True):
        name = name[: matches[i].start()] + fixes[i] + name[matches[i].end() :]
    ev.value = head[:offset] + name + "," + rest
    ev.repaired = True
    ev.sources.append("reread")


def check_house_number(ev: Evidence, t: PageText, pg: PageImages, start: int, end: int) -> None:
    """The house number opening an address read at t.raw[start:end]: its shape, and readings of its own."""
    span = house_number_span(t.raw[start:end])
    if span is None:
        return
    s, e = start + span[0], start + span[1]
    number = t.raw[s:e]
    box = t.tight_box(s, e)
    if box is not None:
        text, _, _ = pg.read(box, whitelist="0123456789/")
        number = weigh_house_number(ev, number, text, lambda: pg.second_opinion(box, "0123456789/")[0])
    ev.valid = ev.valid and plausible_house_number(number)
