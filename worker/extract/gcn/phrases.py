"""The legal wording of the parcel entries (purpose, use form, term, origin), snapped from OCR word by word so
that a snap never changes what the entry means.

The vocabularies are the official lists of worker/lexicons (land-type names of Thông tư 27/2018, the parts
of the origin sentences from the Land Law), never the generator's. A reading takes the legal spelling only
where every word agrees with it: the same letters (tone marks aside, which OCR loses), or, for a word no
other word of the vocabulary comes within two edits of, one garbled letter. `có`/`không`, `chuyển
nhượng`/`tặng cho`/`thừa kế`, `đô thị`/`nông thôn` are other words, never other spellings, so they are
never snapped onto each other; a word the vocabulary does not hold leaves the entry as read, not valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from rapidfuzz.distance import Levenshtein

from models import fields as F
from worker import lexicons
from worker.vntext import clean, name_key

# the words that join the legal parts into the sentences certificates print (`Nhận chuyển nhượng đất được
# Nhà nước giao đất có thu tiền sử dụng đất`, `Công nhận QSDĐ như giao đất ...`): Vietnamese grammar words
# and the standard abbreviation, not a vocabulary of values
_JOINS = ("đất", "được", "như", "trả", "và", "QSDĐ", "giao", "cho", "thuê", "tiền", "năm")

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_QSDD = re.compile(r"[QO]?SDD?|QSD|OSDD")


class Vocabulary:
    """Folded word → legal spelling. A word of four letters or more with one letter garbled takes the
    spelling of the one vocabulary word it is a single edit from (none when two are)."""

    def __init__(self, words: Iterable[str]) -> None:
        table: dict[str, str] = {}
        for w in words:
            w = w if w.isupper() else w.lower()
            key = name_key(w)
            # two spellings with the same letters (`hàng`/`hằng`): both stay valid as read, neither is forced
            table[key] = "" if key in table and table[key] != w else w
        self.table = table
        self.keys = tuple(table)

    def snap(self, word: str) -> str | None:
        """The legal spelling of one read word, or None when the vocabulary does not hold it."""
        key = name_key(word)
        if _QSDD.fullmatch(key) and "QSDD" in self.table:
            return "QSDĐ"  # the abbreviation with its Q or Đ lost to a speck: no other word is like it
        if key not in self.table:
            # two marks stacked on one vowel read as two vowels (`Lắấu`): the same letter twice is no
            # Vietnamese spelling of these words
            key = re.sub(r"([AEIOUY])\1", r"\1", key)
        if key in self.table:
            legal = self.table[key]
            return _with_case(word, legal) if legal else clean(word)
        if len(key) >= 4:
            near = [k for k in self.keys if abs(len(k) - len(key)) <= 1 and Levenshtein.distance(k, key) <= 1]
            if len(near) == 1 and len(near[0]) >= 4 and self.table[near[0]]:
                return _with_case(word, self.table[near[0]])
        return None


def _with_case(read: str, legal: str) -> str:
    legal = clean(legal)
    if legal.isupper() or not read:
        return legal
    if read.isupper() and len(read) > 1:
        return legal.upper()
    return (legal[0].upper() if read[0].isupper() else legal[0].lower()) + legal[1:]


def snap_words(text: str, vocab: Vocabulary) -> tuple[str, bool]:
    """The text with each word in its legal spelling; True when the vocabulary held every word."""
    out: list[str] = []
    last = 0
    known = True
    for m in _WORD.finditer(text):
        legal = vocab.snap(m.group(0))
        out.append(text[last : m.start()])
        out.append(legal if legal is not None else m.group(0))
        known = known and legal is not None
        last = m.end()
    out.append(text[last:])
    return "".join(out), known


# which kinds of legal wording each entry is written in
_ENTRY_KINDS = {
    F.LAND_USE_FORM: ("form",),
    F.LAND_USE_TERM: ("term",),
    F.LAND_USE_ORIGIN: ("origin_basis", "origin_money", "origin_transfer"),
}


@cache
def _entry_phrases(name: str) -> tuple[str, ...]:
    """The legal phrases one entry is written in."""
    kinds = _ENTRY_KINDS.get(name, lexicons.PHRASE_KINDS)
    return tuple(phrase for kind in kinds for phrase in lexicons.land_use_phrases(kind))


@cache
def entry_vocabulary(name: str = F.LAND_USE_ORIGIN) -> Vocabulary:
    """The words of one entry's legal wording: each entry snaps to its own (`hạn` of the term is no word
    of an origin, so `Xhận` can only be `Nhận` there)."""
    words = [w for phrase in _entry_phrases(name) for w in phrase.split()]
    return Vocabulary([*words, *(_JOINS if name == F.LAND_USE_ORIGIN else ())])


def canonical_entry(name: str, text: str) -> tuple[str, bool]:
    """A use-form, term or origin entry in its legal spelling, and whether every word of it is legal
    wording (an entry with a word the vocabulary lacks is kept as read)."""
    m = re.search(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})", text)
    # the table of the older forms prints the term's date alone under `Thời hạn sử dụng`: a term that is a
    # date is the day the right ends, the same entry as the 2009 form's `Đến ngày ...`
    bare = m and name == F.LAND_USE_TERM and not re.search(r"[^\W_]", text[: m.start()] + text[m.end() :])
    if m and (bare or re.search(r"DEN\s*NGAY", name_key(text))):
        return f"Đến ngày {int(m.group(1)):02d}/{int(m.group(2)):02d}/{m.group(3)}", True
    if name == F.LAND_USE_TERM and re.search(r"DEN\s*NGAY", name_key(text)):
        return text, False  # a term `đến ngày` whose date was not read: the date is the entry
    snapped, known = snap_words(text, entry_vocabulary(name))
    known = known and bool(_WORD.search(text)) and _money_complete(snapped) and not _cut_short(name, snapped)
    if not known and name == F.LAND_USE_TERM:
        key = name_key(text)
        if len(re.findall(r"\bLAU\s*DAI\b", key)) == 1:
            # the term inside a table row the layout pass ran together (`Ghi chú ... ODT Lâu dài Tổng ...`)
            return "Lâu dài", True
        if not re.search(r"\d", key) and Levenshtein.distance(re.sub(r"[^A-Z]", "", key), "LAUDAI") <= 2:
            # the only undated term there is: a letter or two garbled cannot make it another one
            return "Lâu dài", True
    # the legal wording has no punctuation inside: a `(` or `,` between its words is a speck
    return (" ".join(_WORD.findall(snapped)) if known else text), known


@cache
def _folded_phrases(name: str) -> tuple[tuple[str, ...], ...]:
    """The legal phrases of an entry, each as its folded words."""
    return tuple(tuple(name_key(phrase).split()) for phrase in _entry_phrases(name))


def _cut_short(name: str, text: str) -> bool:
    """Whether the entry ends inside a legal phrase (`Sử dụng` of `Sử dụng riêng`, `... có thu tiền sử dụng`
    with its last word lost to the line's end): every word is legal wording, yet the entry is not whole."""
    words = tuple(re.sub(r"[^A-Z ]", " ", name_key(text)).split())
    phrases = _folded_phrases(name)
    if any(len(p) <= len(words) and words[-len(p) :] == p for p in phrases):
        return False
    # the entry's last k words are the first k of a phrase longer than k
    return any(words[-k:] == p[:k] for p in phrases for k in range(1, min(len(p), len(words) + 1)))


@cache
def _money_tails() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each money part without its first word (`thu tiền sử dụng đất`), with the words that may open it."""
    tails: dict[str, set[str]] = {}
    for phrase in lexicons.land_use_phrases("origin_money"):
        head, _, tail = name_key(phrase).partition(" ")
        tails.setdefault(tail, set()).add(head)
    return tuple((tail, tuple(sorted(heads))) for tail, heads in tails.items())


def _money_complete(text: str) -> bool:
    """`có`/`không` decide an origin: `giao đất thu tiền sử dụng đất` with that word lost is no legal entry."""
    key = " " + re.sub(r"[^A-Z ]", " ", name_key(text)) + " "
    key = re.sub(r"\s+", " ", key)
    for tail, heads in _money_tails():
        for m in re.finditer(" " + re.escape(tail) + " ", key):
            before = key[: m.start()].split()
            if not before or before[-1] not in heads:
                return False
    return True


@cache
def land_use_names() -> dict[str, tuple[str, ...]]:
    """Land-use code → its legal names; `hàng năm` is also printed `hằng năm` (both spellings occur across
    versions of the law)."""
    out: dict[str, tuple[str, ...]] = {}
    for code, name in lexicons.land_use_codes().items():
        names: tuple[str, ...] = (clean(name),)
        if "hàng năm" in name:
            names += (clean(name.replace("hàng năm", "hằng năm")),)
        out[code] = names
    return out


def snap_purpose(text: str) -> tuple[str | None, str, bool]:
    """(code, legal name, snapped?) for one purpose as read. The reading snaps to a land type whose name has
    the same words (letters compared without tone marks; one garbled letter in a word of four or more),
    and only when that type is the single closest one."""
    read = [name_key(w.group(0)) for w in _WORD.finditer(text)]
    if not read:
        return None, text, False
    best: list[tuple[int, str, str]] = []
    for code, names in land_use_names().items():
        for legal in names:
            words = [name_key(w) for w in _WORD.findall(legal)]
            edits = _word_edits(read, words)
            if edits is not None:
                best.append((edits, code, legal))
    if not best:
        return None, text, False
    best.sort()
    top = [b for b in best if b[0] == best[0][0]]
    if len({code for _, code, _ in top}) > 1:
        return None, text, False
    runner = next((e for e, c, _ in best if c != top[0][1]), None)
    if top[0][0] and runner is not None and runner - top[0][0] < 2:
        return None, text, False  # another land type is about as near: the garbled letter may be its
    edits, code, legal = top[0]
    if edits == 0:
        # a spelling the law uses (`hằng`/`hàng`) is kept as printed
        spelled = [legal for e, c, legal in top if clean(legal).casefold() == clean(text).casefold()]
        legal = spelled[0] if spelled else legal
    return code, legal, True


def _word_edits(read: list[str], legal: list[str]) -> int | None:
    """Letters changed to turn the read words into the legal ones, or None when they are other words."""
    if len(read) != len(legal):
        return 0 if "".join(read) == "".join(legal) else None  # words OCR ran together or split
    total = 0
    for a, b in zip(read, legal, strict=True):
        if a == b:
            continue
        d = Levenshtein.distance(a, b)
        if d > 1 or (len(b) < 4 and d and len(a) != len(b)):
            return None  # a short word may have one letter misread, never one lost or added
        total += d
    return total
