"""The page's text with positions: visual lines joined with newlines, a same-length folded copy to search
with label patterns, and each character's word (for its confidence and box); values are sliced from the
original text between a label and the next label, so values wrapping onto a second line are whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np

from models.elements import Line, TextPage, Word, union
from worker.extract.gcn.patterns import STOPS
from worker.extract.lines import visual_lines
from worker.vntext import clean, strip_diacritics


@cache
def fold_char(ch: str) -> str:
    """One character, diacritics stripped and lower-cased, always exactly one character long."""
    s = strip_diacritics(ch).lower()
    return s[0] if s else ch


def page_lines(read: TextPage) -> list[Line]:
    """The reading's visual lines (worker/extract/lines.py), each word's text cleaned (NFC, one tone-mark
    placement) and words that clean to nothing dropped."""
    lines = []
    for line in read.lines:
        words = [w.model_copy(update={"text": text}) for w in line.words if (text := clean(w.text))]
        if words:
            lines.append(Line.of(words))
    return visual_lines(lines)


class PageText:
    """The page's visual lines joined with newlines, a same-length folded copy, and char → word index."""

    @classmethod
    def of(cls, read: TextPage) -> PageText:
        return cls(page_lines(read))

    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines
        parts: list[str] = []
        self.char_word: list[int] = []
        self.words: list[Word] = []
        self.line_of_word: list[int] = []
        for li, line in enumerate(lines):
            if li:
                parts.append("\n")
                self.char_word.append(-1)
            for wi, w in enumerate(line.words):
                if wi:
                    parts.append(" ")
                    self.char_word.append(-1)
                self.char_word.extend([len(self.words)] * len(w.text))
                self.words.append(w)
                self.line_of_word.append(li)
                parts.append(w.text)
        self.raw = "".join(parts)
        self.fold = "".join(fold_char(c) for c in self.raw)

    def span_words(self, start: int, end: int) -> list[Word]:
        idx = sorted({i for i in self.char_word[max(0, start) : max(0, end)] if i >= 0})
        return [self.words[i] for i in idx]

    def stats(self, start: int, end: int) -> tuple[float, float]:
        ws = self.span_words(start, end)
        if not ws:
            return 0.0, 0.0
        confs = [w.confidence for w in ws]
        return float(np.mean(confs)), float(min(confs))

    def box(self, start: int, end: int) -> tuple[int, int, int, int] | None:
        ws = self.span_words(start, end)
        return union([w.box for w in ws]) if ws else None

    def tight_box(self, start: int, end: int) -> tuple[int, int, int, int] | None:
        """Like box, but a word only partly inside the span is cut to its share of the characters (plus
        half a character): OCR that glued `92` to the next item marker (`92_2.`) must not have the marker
        re-read as a third digit."""
        start, end = max(0, start), max(0, end)
        boxes = []
        for wi in sorted({i for i in self.char_word[start:end] if i >= 0}):
            w = self.words[wi]
            first = self.char_word.index(wi)
            n = len(w.text)
            lo, hi = max(start, first) - first, min(end, first + n) - first
            x, y, bw, bh = w.box
            if n <= 1 or (lo == 0 and hi == n):
                boxes.append(w.box)
                continue
            cw = bw / n
            x0 = x if lo == 0 else round(x + (lo - 0.5) * cw)
            x1 = x + bw if hi == n else round(x + (hi + 0.5) * cw)
            boxes.append((x0, y, max(1, x1 - x0), bh))
        return union(boxes) if boxes else None

    def line_index(self, pos: int) -> int:
        return self.fold.count("\n", 0, max(0, pos))

    def line_start(self, index: int) -> int:
        pos = 0
        for _ in range(index):
            pos = self.fold.index("\n", pos) + 1
        return pos

    def line_end(self, pos: int) -> int:
        """Where the line holding `pos` ends (its newline, or the end of the text)."""
        end = self.fold.find("\n", pos)
        return len(self.fold) if end < 0 else end


@dataclass
class Slice:
    start: int
    end: int
    raw: str
    fold: str


def label_values(
    t: PageText, patterns: dict[str, re.Pattern[str]], start: int = 0, end: int | None = None
) -> dict[str, Slice]:
    """For each label, the text from its end to the next label or section stop (wrapped lines included)."""
    end = len(t.fold) if end is None else end
    hits: dict[str, re.Match[str]] = {}
    for name, pat in patterns.items():
        m = pat.search(t.fold, start, end)
        if m:
            hits[name] = m
    # a line that starts right of the page's middle belongs to another block (the signature, the serial):
    # a wrapped value continues at the left margin
    width = max((ln.box[0] + ln.box[2] for ln in t.lines), default=0)
    right_lines = {t.line_start(i) for i, ln in enumerate(t.lines) if i and ln.box[0] > 0.45 * width}
    # every place a label is printed ends a value, not only its first (the pre-2009 form's table header
    # `Mục đích sử dụng` after the address, `Tổng diện tích` after the term)
    bounds = sorted(
        {m.start() for p in patterns.values() for m in p.finditer(t.fold, start, end)}
        | {m.start() for p in STOPS for m in p.finditer(t.fold, start, end)}
        | {b for b in right_lines if start <= b <= end}
    )
    unnumbered = {m.start() for m in hits.values() if not re.match(r"(?:[a-hø]|\d{1,2})\s*[).:;]", m.group(0))}
    out: dict[str, Slice] = {}
    for name, m in hits.items():
        stop = next((b for b in bounds if b >= m.end()), end)
        # a label found inside a word (`NÑguồn gốc`: a speck read as a letter glued to its first one) ends
        # the value before it at that word's start; digits before it are a value's (`5892. Tờ`), kept
        if speck := re.search(r"(?<![^\s])[^\W\d_]{1,2}\Z", t.raw[m.end() : stop]):
            stop = m.end() + speck.start()
        s, e = m.end(), _before_far_words(t, m.end(), stop)
        raw = t.raw[s:e]
        if stop in unnumbered:
            # OCR glued the next item's number onto this value (`589     2. Tờ bản đồ` read `5892. Tờ`)
            glued = re.search(r"(?:(?<=\d)|\s)\d\s*[.)]\s*$", raw)
            if glued:
                raw = raw[: glued.start()]
        raw = strip_item_marker(raw)
        lead = len(raw) - len(raw.lstrip())
        trail = len(raw.rstrip(" \n;,.")) if raw.strip() else 0
        out[name] = Slice(s + lead, s + trail, t.raw[s + lead : s + trail], t.fold[s + lead : s + trail])
    return out


# a word this many of the value's word heights right of the word before it is not part of the value: a
# stamp or signature beside the line (`Sử dụng riêng ... &—n`), read onto it by a block re-read
_FAR_GAP = 4.0


def _before_far_words(t: PageText, start: int, end: int) -> int:
    """Where a value's slice ends once words far right of the value on its last line are left out."""
    idx = sorted({i for i in t.char_word[start:end] if i >= 0})
    if len(idx) < 2:
        return end
    height = float(np.median([t.words[i].box[3] for i in idx]))
    last_line = t.line_of_word[idx[-1]]
    for a, b in pairwise(idx):
        wa, wb = t.words[a].box, t.words[b].box
        if t.line_of_word[a] == t.line_of_word[b] == last_line and wb[0] - (wa[0] + wa[2]) > _FAR_GAP * height:
            return t.char_word.index(a) + len(t.words[a].text)
    return end


_TRAILING_MARKER = re.compile(
    # the next item's marker misread so its label did not take it: `... Huế. gø` (g.), `...; d` (đ.),
    # `\n4:` (4.); a letter marker is 1-2 letters of a-h/ø, a number marker only counts on its own line
    r"(?:[\s.;,]+(?:[a-hø]{1,2}|[a-hø]\s*[).:;])|\n\s*\d{1,2}\s*[.):;]?)\s*$"
)


# specks after a value's final `;`/`.`: what is left of the next item's marker or a table rule
_TRAILING_JUNK = re.compile(r"[;.]\s*(?:[^\w\s]{0,3}|[^\W\d_]{1,2}[^\w\s]{0,2})\s*$")


# table rules and specks read as text after a value: tokens with no letter or digit, or one stray non-ASCII
# letter (`Lâu dài ụ`, `Huế | | Ì { {`)
_TRAILING_SPECKS = re.compile(r"(?:\s+(?:[^\w\s]+|[^\x00-\x7f\d\W]|_+))+\s*$")


def strip_item_marker(raw: str) -> str:
    m = _TRAILING_MARKER.search(raw)
    if m and not re.fullmatch(r"[\s.;,]+(?:ha|ba|bo)", m.group(0)):
        raw = raw[: m.start()]
    m = _TRAILING_SPECKS.search(raw)
    if m:
        raw = raw[: m.start()]
    m = _TRAILING_JUNK.search(raw)
    return raw[: m.start()] if m else raw


def text_value(sl: Slice) -> str:
    return clean(sl.raw.replace("\n", " ")).strip(" ;,.")
