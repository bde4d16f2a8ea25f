"""The band of a place value under its label on the 12-digit cards' fronts (chip 2021, barcode 2016), found
by geometry rather than by the layout pass's lines.

On a photographed card the layout pass often cuts the value's second row in two (the expiry date under the
photo joined with the row's first words, the rest a line of its own, the two sorted the wrong way), reads a
word at the card's edge short (`Ch` for `Châu`), or never sees the second row at all. The value's rows are
the rows of words right of the label's left edge and under it, to the card's bottom; each is read again
whole, from its first word to the value column's right edge, as one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from models.elements import Line, TextPage, Word, union
from worker.extract.idcard.labels import LabelHit, cut_at_label, label_kind, strip_tail, word_key
from worker.extract.idcard.plausible import is_syllable, places_confirmed
from worker.extract.idcard.regions import read_region
from worker.ocr import Reader
from worker.vntext import clean

Box = tuple[int, int, int, int]


@dataclass
class BandRow:
    words: list[Word]  # the layout pass's words on the row (none for a row it never saw)
    box: Box  # what is read again: the row from its first word to the value column's right edge


def column_right(layout: TextPage, hit: LabelHit, width: int) -> int:
    """The value column's right edge: the furthest any line right of the label's left edge reaches (the
    nationality, the origin), a letter's width on; never past the image."""
    x0, y0, _, h = hit.label_box
    ends = [
        w.box[0] + w.box[2]
        for ln in layout.lines
        if ln.box[1] > y0 - 8 * h
        for w in ln.words
        if w.box[0] >= x0 - h and len(word_key(w.text)) >= 2
    ]
    return int(min(width, max(ends, default=width) + h))


def printed_rows(words: list[Word]) -> list[list[Word]]:
    """The words of one layout line split into the printed rows they stand on: a tilted card makes the
    layout pass join a value with the line under it, and one crop over two rows reads as neither. Rows are
    told apart by a gap in height of most of a line, each holding two words or more (a slanted line
    drifts without a gap; a speck above a line is no row)."""
    if len(words) < 4:
        return [words] if words else []
    h = float(np.median([w.box[3] for w in words]))
    ordered = sorted(words, key=lambda w: w.box[1] + w.box[3] / 2)
    rows: list[list[Word]] = [[ordered[0]]]
    for prev, w in pairwise(ordered):
        if (w.box[1] + w.box[3] / 2) - (prev.box[1] + prev.box[3] / 2) > 0.7 * h:
            rows.append([])
        rows[-1].append(w)
    if len(rows) < 2 or any(len(r) < 2 for r in rows):
        return [words]
    return [sorted(r, key=lambda w: w.box[0]) for r in rows]


def _column(words: list[Word], x0: int, h: int) -> list[Word]:
    """A line's words from the label's left edge on, and the words before them that run on with a word space
    (the label's first letters lost, its edge is further right than the value's), but never a date or a
    number (the expiry date under the photo stands as close)."""
    keep = [i for i, w in enumerate(words) if w.box[0] + w.box[2] / 2 >= x0 - 0.5 * h]
    if not keep:
        return []
    start = keep[0]
    while start > 0:
        prev, cur = words[start - 1], words[start]
        gap = cur.box[0] - (prev.box[0] + prev.box[2])
        if gap > 1.2 * max(prev.box[3], cur.box[3]) or prev.box[0] < x0 - 6 * h or re.search(r"[\d/]", prev.text):
            break
        start -= 1
    return words[start:]


def _fragments(layout: TextPage, hit: LabelHit, top: float, skip: list[Word]) -> list[list[Word]]:
    """The layout lines under the label (their words' middle below `top`), each cut to its words right of
    the label's left edge (the expiry date and its label under the photo stay out): a line's words stay
    together however the card tilts."""
    x0, h = hit.label_box[0], hit.label_box[3]
    out = []
    for ln in layout.lines:
        ws = _column(sorted((w for w in ln.words if w not in skip), key=lambda w: w.box[0]), x0, h)
        if ln is not hit.line:
            out += [row for row in printed_rows(ws) if _centre(row) > top]
    return out


def beside_label(layout: TextPage, hit: LabelHit) -> list[Word]:
    """Words on the label's row past its end that the layout pass put on another line (a tilted card's value
    joined with the expiry date under the photo)."""
    x0, y0, w, h = hit.label_box
    return [
        wd
        for ln in layout.lines
        if ln is not hit.line
        for wd in ln.words
        if abs(wd.box[1] + wd.box[3] / 2 - (y0 + h / 2)) < 0.6 * h and wd.box[0] >= x0 + w
    ]


def _centre(words: list[Word]) -> float:
    return float(np.median([w.box[1] + w.box[3] / 2 for w in words]))


def _height(words: list[Word]) -> float:
    return float(np.median([w.box[3] for w in words]))


def _rows(fragments: list[list[Word]]) -> list[list[Word]]:
    """Fragments on one printed row joined (the layout pass cuts a row in two where the expiry date stands
    beside it): their centres within half a line of each other."""
    rows: list[list[Word]] = []
    for frag in sorted(fragments, key=_centre):
        if rows and abs(_centre(frag) - _centre(rows[-1])) < 0.35 * max(_height(frag), _height(rows[-1])):
            rows[-1] = sorted([*rows[-1], *frag], key=lambda w: w.box[0])
        else:
            rows.append(frag)
    return rows


def rows_below(
    layout: TextPage,
    hit: LabelHit,
    own: tuple[str, ...],
    *,
    max_rows: int,
    right: int,
    top: int,
    skip: list[Word],
    floor: int = 0,
) -> list[BandRow]:
    """The value's rows under the label's line, right of its left edge, until a gap of more than a row,
    another field's label, or `max_rows`."""
    x0, h = hit.label_box[0], hit.label_box[3]
    out: list[BandRow] = []
    bottom = top
    for row in _rows(_fragments(layout, hit, top, skip)):
        ry0 = min(w.box[1] for w in row)
        rh = max(w.box[1] + w.box[3] for w in row) - ry0
        if ry0 - bottom > 1.6 * max(h, rh):
            break
        kind = label_kind(Line.of(row), own)
        if kind == "other":
            break
        if kind == "own":
            bottom = ry0 + rh
            continue
        kept = cut_at_label(strip_tail(row, own), own)  # the next label, merged into the row's line
        if not words_of(kept):
            continue  # a speck, a mark of the artwork, the photo's edge
        box = row_box(kept, x0 - 0.3 * h, right, floor)
        out.append(BandRow(kept, box))
        floor = box[1] + box[3]
        bottom = ry0 + rh
        if len(out) >= max_rows:
            break
    return out


_NUMBER = re.compile(r"\d+[A-Za-z]?(?:/\d+[A-Za-z]?)*")


# unit abbreviations a hamlet's row may open with (tổ dân phố, khu vực, khu phố)
_UNIT_ABBREVIATIONS = frozenset({"TDP", "KV", "KP", "TP", "TX", "TT"})


def words_of(words: list[Word]) -> int:
    """Words of a row that an address holds: syllables of two letters or more, numbers, unit abbreviations."""
    tokens = [w.text.strip(".,;:-'\"") for w in words]
    return sum(
        1 for t in tokens if (len(t) >= 2 and is_syllable(t)) or _NUMBER.fullmatch(t) or t in _UNIT_ABBREVIATIONS
    )


def row_box(words: list[Word], left: float, right: int, floor: int = 0) -> Box:
    """A row as read again: its words' box, specks aside (a tall one would take in the next row), never
    above `floor` (the row over it: a tilted card's word boxes overlap), from `left` or its first word, to
    its last word and a letter on (a word's last letter is often outside its box), never past the column."""
    x, _, w, _ = union(wd.box for wd in words)
    ref = [wd for wd in words if sum(ch.isalnum() for ch in wd.text) >= 2] or words
    _, top, _, height = union(wd.box for wd in ref)
    h = _height(ref)
    if floor > top and top + height - floor > 0.6 * h:
        top, height = floor, top + height - floor
    # a row set in from the label's edge (a 2016 card's second row) has nothing of the value before it
    start = int(max(0, min(x, left))) if x - left < 1.5 * h else x
    end = int(min(right, x + w + h)) if right > x + w else x + w
    return (start, top, end - start, height)


def unseen_row(below: Box, left: int, right: int, height: int, line: int) -> Box | None:
    """Where a row the layout pass never saw would stand under `below` (`line`: a value row's least height,
    a short row's words are no measure of it), with room for the marks above its capitals (a crop cut at
    the row's own height loses them, and the commas with them)."""
    _, y, _, h = below
    h = max(h, line)
    top = y + below[3] + int(0.1 * h)
    if top + 0.6 * h >= height:
        return None
    return (left, top, right - left, int(min(1.5 * h, height - top)))


def read_row(reader: Reader, img: np.ndarray, box: Box, *, choices: bool = False) -> Line:
    return read_region(reader, img, box, psm=7, choices=choices)


def adds_place(so_far: str, row_text: str, as_value: Callable[[str], str]) -> bool:
    """A row read where the layout pass saw none belongs to the value when it is words (not specks or the
    photo's edge) and takes the address (`as_value`: cleaned as the field's value) towards its province."""
    words = [t.strip(".,;:") for t in clean(row_text).split()]
    syllables = sum(1 for t in words if len(t) >= 2 and is_syllable(t))
    if syllables < 2 or syllables < 0.6 * len(words):
        return False
    joined = f"{so_far.rstrip(' ,')}, {row_text}"
    return places_confirmed(as_value(joined)) > places_confirmed(as_value(so_far))
