"""Field labels on identity cards: where each field's label is, and which words after or under it are the
value. OCR garbles labels too, so they are matched fuzzily on a diacritic-folded copy of each word."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz

from models import fields as F
from models.elements import Block, Line, TextPage, Word
from worker.vntext import name_key

# label variants per field, in name_key form (upper case, no diacritics); punctuation is ignored
LABELS: dict[str, tuple[str, ...]] = {
    F.ID_NUMBER: ("SO NO", "SO DINH DANH CA NHAN PERSONAL IDENTIFICATION NUMBER", "SO DINH DANH CA NHAN", "SO"),
    F.FULL_NAME: ("HO VA TEN FULL NAME", "HO CHU DEM VA TEN KHAI SINH FULL NAME", "HO VA TEN", "HO TEN"),
    F.DATE_OF_BIRTH: (
        "NGAY SINH DATE OF BIRTH",
        "NGAY THANG NAM SINH DATE OF BIRTH",
        "NGAY THANG NAM SINH",
        "SINH NGAY",
    ),
    F.SEX: ("GIOI TINH SEX", "GIOI TINH"),
    F.NATIONALITY: ("QUOC TICH NATIONALITY", "QUOC TICH"),
    F.PLACE_OF_ORIGIN: ("QUE QUAN PLACE OF ORIGIN", "QUE QUAN", "NGUYEN QUAN"),
    F.PLACE_OF_RESIDENCE: (
        "NOI THUONG TRU PLACE OF RESIDENCE",
        "NOI CU TRU PLACE OF RESIDENCE",
        "NOI DKHK THUONG TRU",
        "NOI THUONG TRU",
        "NOI CU TRU",
    ),
    F.PLACE_OF_BIRTH: ("NOI DANG KY KHAI SINH PLACE OF BIRTH", "NOI DANG KY KHAI SINH"),
    F.DATE_OF_EXPIRY: ("NGAY THANG NAM HET HAN DATE OF EXPIRY", "CO GIA TRI DEN", "DATE OF EXPIRY"),
    F.ISSUE_DATE: ("NGAY THANG NAM DATE MONTH YEAR", "NGAY THANG NAM CAP DATE OF ISSUE"),
    F.PERSONAL_IDENTIFICATION: (
        "DAC DIEM NHAN DANG PERSONAL IDENTIFICATION",
        "DAC DIEM NHAN DANG",
        "DAU VET RIENG VA DI HINH",
    ),
    F.ETHNICITY: ("DAN TOC",),
}


ALL_LABEL_KEYS = tuple(k for ks in LABELS.values() for k in ks if len(k) > 2)


# the English halves of bilingual labels: the layout pass often splits a label at its `/`, leaving the
# tail at the start of what looks like the value
LABEL_TAILS = (
    "FULL NAME",
    "DATE OF BIRTH",
    "SEX",
    "NATIONALITY",
    "PLACE OF ORIGIN",
    "PLACE OF RESIDENCE",
    "PLACE OF BIRTH",
    "DATE OF EXPIRY",
    "DATE MONTH YEAR",
    "DATE OF ISSUE",
    "PERSONAL IDENTIFICATION",
    "PERSONAL IDENTIFICATION NUMBER",
    "NO",
    "ORIGIN",
    "RESIDENCE",
    "BIRTH",
    "EXPIRY",
)


@dataclass
class LabelHit:
    line: Line
    label_end: int  # index of the first word after the label
    score: float
    label_box: tuple[int, int, int, int]

    @property
    def value_words(self) -> list[Word]:
        return self.line.words[self.label_end :]


@lru_cache(maxsize=8192)
def word_key(text: str) -> str:
    # every label search folds every word of the layout again: the same few hundred words per card
    return re.sub(r"[^A-Z0-9]", "", name_key(text))


def find_label(lines: list[Line], variants: tuple[str, ...], *, min_score: float = 80.0) -> LabelHit | None:
    """The best fuzzy match of any label variant at the start of a line (a few junk words may precede it)."""
    best: LabelHit | None = None
    # per variant: its length, the length slack, whether it is short (see below), and the length bonus
    prepared = [(v, len(v), max(3, len(v) // 3), len(v) < 8, 0.15 * len(v)) for v in variants]
    # the joined words only grow with k: past the longest variant's length and slack none can match
    longest = max((length + slack for _, length, slack, _, _ in prepared), default=0)
    for line in lines:
        keys = [word_key(w.text) for w in line.words]
        for j in range(len(keys)):
            joined = ""
            for k in range(j + 1, min(len(keys), j + 14) + 1):
                # one-character tokens are specks (`7`, `Z` for a slash): they never spell a label, and
                # leave the run of words (and so every score) as it was
                if len(keys[k - 1]) <= 1:
                    continue
                joined = f"{joined} {keys[k - 1]}" if joined else keys[k - 1]
                if len(joined) > longest:
                    break
                for variant, length, slack, short, bonus in prepared:
                    # a long label may stand mid-line (`Giới tính: Nữ  Quốc tịch: Việt Nam`); a short one
                    # only near the start, where it cannot be a word of some value
                    if (j >= 4 and short) or abs(len(joined) - length) > slack:
                        continue
                    if length <= 3 and joined != variant:
                        continue
                    # the longest label that fits: `Quê quán 7 Place of origin` over `Quê quán`
                    score = fuzz.ratio(joined, variant) + bonus
                    if score >= min_score and (best is None or score > best.score):
                        ws = [w for w, key in zip(line.words[j:k], keys[j:k], strict=True) if len(key) > 1]
                        if _in_capitals(ws) and not variant.startswith("DAU VET"):
                            continue
                        x0 = ws[0].box[0]
                        x1 = max(w.box[0] + w.box[2] for w in ws)
                        # median, not union: one word fused with a speck of the photo would make the
                        # label look two lines tall and swallow the value line below it
                        y0 = int(np.median([w.box[1] for w in ws]))
                        h = int(np.median([w.box[3] for w in ws]))
                        best = LabelHit(line, k, score, (x0, y0, x1 - x0, h))
    return best


def _in_capitals(words: list[Word]) -> bool:
    """Two words or more all in capitals: a value (`NGUYỄN XUÂN` spells `Nguyên quán` but for its case), not a
    label, which every card prints in sentence case but the CMND back's `DẤU VẾT RIÊNG`."""
    caps = [w.text for w in words if sum(ch.isalpha() for ch in w.text) >= 2]
    return len(caps) >= 2 and all(w.isupper() for w in caps)


def strip_tail(words: list[Word], own: tuple[str, ...] = ()) -> list[Word]:
    """Drop what precedes a value: specks (`ì`, `›`), a split label's tail (`/ Place of origin:`), or the
    whole label again when the layout pass put it on the value's line."""
    keys = [word_key(w.text) for w in words]
    i = 0
    last = ""
    for _ in range(4):
        while i < len(words) and len(keys[i]) <= 1 and not keys[i].isdigit():
            i += 1
        for label in sorted((*LABEL_TAILS, *own), key=len, reverse=True):
            n = label.count(" ") + 1
            # a one-character token (`7` for a slash) may sit between the label's halves
            skip = 1 if i + 1 < len(keys) and len(keys[i]) == 1 else 0
            joined = " ".join(keys[i + skip : i + skip + n])
            if joined and fuzz.ratio(joined, label) >= (100 if len(label) <= 3 else 80):
                i += skip + n
                last = label.split()[-1]
                break
        else:
            break
    # the value's first word fused with the label's last (`residence:Thuận`) keeps its own part
    i = min(i, len(words))  # a label's match may count words past the line's end
    fused = _split_fused(words[i - 1], last) if i and len(last) >= 5 else None
    return [fused, *words[i:]] if fused is not None else words[i:]


# the words of a field's own label that OCR leaves before its value when it garbles the rest (`Í (¿ull nam`)
_RESIDUE: dict[str, tuple[str, ...]] = {
    F.FULL_NAME: ("FULL", "NAME"),
    F.PLACE_OF_ORIGIN: ("PLACE", "ORIGIN"),
    F.PLACE_OF_RESIDENCE: ("PLACE", "RESIDENCE"),
    F.PLACE_OF_BIRTH: ("PLACE", "BIRTH"),
}


def drop_label_residue(words: list[Word], name: str) -> list[Word]:
    """Drop the garbled rest of the field's own label from the start of its value: specks, `of`, and words
    one or two letters off the label's English words (the value then starts on the next line)."""
    residue = _RESIDUE.get(name, ())
    i = 0
    while i < len(words):
        key = word_key(words[i].text)
        speck = len(key) <= 1 and not key.isdigit()
        if not (speck or key == "OF" or (len(key) >= 3 and any(fuzz.ratio(key, r) >= 75 for r in residue))):
            break
        i += 1
    return words[i:] if i < len(words) and any(word_key(w.text) for w in words[i:]) else []


# other fields' labels a value may run into when the layout pass merges two lines (`..., Vĩnh Long Nơi
# thường trú / Place of residence ...`): long enough that no address or name spells one by chance (a short
# one such as `Giới tính` is two letters from the district `Gio Linh`)
# (`thường trú`, permanent residence, is no place's name: the CMND's `Nơi ĐKHK thường trú` is found by it however
# garbled its `ĐKHK`)
_INNER_LABELS = ("NOI THUONG TRU", "THUONG TRU", "PLACE OF RESIDENCE", "PLACE OF ORIGIN", "CO GIA TRI DEN",
                 "DATE OF EXPIRY", "NOI DANG KY KHAI SINH", "PLACE OF BIRTH", "DATE OF BIRTH")  # fmt: skip


def label_inside(keys: list[str], own: tuple[str, ...]) -> int | None:
    """Where (index into `keys`, word keys of a value) another field's label starts, if anywhere."""
    for j in range(1, len(keys)):
        for label in _INNER_LABELS:
            if any(label in o for o in own):
                continue
            joined = " ".join(k for k in keys[j : j + label.count(" ") + 1] if k)
            if len(joined) >= 0.8 * len(label) and fuzz.ratio(joined, label) >= 85:
                return _label_head(keys, j) if label == "THUONG TRU" else j
    return None


def _label_head(keys: list[str], j: int) -> int:
    """Where `Nơi ĐKHK thường trú` starts, found by its `thường trú`: back over its first words as read."""
    for _ in range(2):
        if j > 1 and (fuzz.ratio(keys[j - 1], "DKHK") >= 50 or fuzz.ratio(keys[j - 1], "NOI") >= 65):
            j -= 1
    return j


def cut_at_label(words: list[Word], own: tuple[str, ...]) -> list[Word]:
    """The value's words up to where another field's label starts inside them."""
    j = label_inside([word_key(w.text) for w in words], own)
    return words if j is None else words[:j]


def cut_text_at_label(text: str, own: tuple[str, ...]) -> str:
    """As cut_at_label, on a value's text (a region re-read may take in the label the layout pass saw)."""
    tokens = text.split()
    j = label_inside([word_key(t) for t in tokens], own)
    return text if j is None else " ".join(tokens[:j])


def lines_below(
    lines: list[Line],
    hit_box: tuple[int, int, int, int],
    *,
    max_lines: int,
    x_tol: float = 3.0,
    own: tuple[str, ...] = (),
    exclude: Line | None = None,
    value_span: tuple[int, int] | None = None,
) -> list[Line]:
    """Lines right under a label, starting near its left edge (or, when the value began on the label's
    line, under that first part: a wrapped value may be centred under it), until a gap or another field's
    label."""
    x0, y0, _, h = hit_box
    out: list[Line] = []
    bottom = y0 + h
    for line in sorted(lines, key=lambda ln: ln.box[1]):
        if line is exclude:
            continue
        lx, ly, lw, lh = line.box
        if ly + lh / 2 <= y0 + h * 0.8:
            continue
        if ly - bottom > 1.6 * max(h, lh):
            break
        under_value = value_span is not None and value_span[0] <= lx <= value_span[1]
        if lx + lw < x0 or (lx > x0 + x_tol * h * 4 and not under_value):
            continue
        kind = label_kind(line, own)
        if kind == "other" and lx < x0 - 2 * h and _expiry_row(line):
            # the left column's label (`Có giá trị đến`, `Date of expiry`) joined with the value's row: the
            # value goes on in the words from the label's column on, if the row holds any
            column = [w for w in line.words if w.box[0] >= x0 - h]
            if not column or label_kind(Line.of(column), own) is None:
                if _column_words(column) < 2:
                    bottom = max(bottom, ly + lh)  # a row of the card all the same: the gap runs from it
                    continue
                kind = None
        if kind == "other":
            break
        if kind == "own":
            bottom = ly + lh
            continue
        out.append(line)
        bottom = ly + lh
        if len(out) >= max_lines:
            break
    return out


def _expiry_row(line: Line) -> bool:
    """Whether a line opens with the expiry's label, the one label printed left of the value column (under
    the photo), on a row of its own values."""
    keys = [k for k in (word_key(w.text) for w in line.words[:5]) if len(k) > 1]
    head = " ".join(keys[:4])
    return any(fuzz.partial_ratio(label, head) >= 85 for label in ("CO GIA TRI DEN", "DATE OF EXPIRY"))


def _column_words(words: list[Word]) -> int:
    """Words of two letters or digits or more, none of them a label's."""
    keys = [word_key(w.text) for w in words]
    if any(k in ("DATE", "EXPIRY", "OFEXPIRY") for k in keys):
        return 0
    return sum(len(k) >= 2 for k in keys)


def label_kind(line: Line, own: tuple[str, ...] = ()) -> str | None:
    """ "own" when the line starts with (part of) this field's label, "other" for another field's, else None."""
    keys = [word_key(w.text) for w in line.words[:7]]
    while keys and len(keys[0]) <= 1:  # a speck before the label
        keys = keys[1:]
    head = " ".join(k for k in keys[:6] if k)
    # labels are printed in sentence case; a line opening with two words in capitals is a value
    # (`NGUYỄN QUANG NGỮ` is not the label `Nguyên quán`), except the one label printed in capitals
    caps = [w.text for w in line.words[:3] if sum(ch.isalpha() for ch in w.text) >= 2][:2]
    if len(caps) == 2 and all(w.isupper() for w in caps) and not head.startswith("DAU VET"):
        return None
    for k in (*ALL_LABEL_KEYS, *LABEL_TAILS):
        if len(k) < 8 or len(head) < 0.8 * len(k) or fuzz.ratio(head[: len(k)], k) < 85:
            continue
        return "own" if any(k in o for o in own) else "other"
    return None


def right_of(words: list[Word], label_box: tuple[int, int, int, int]) -> list[Word]:
    """The words of a value line from the label's column on. The layout pass may have lost the label's
    first words (`Họ, chữ` of a faint label), so a word left of the label still belongs to the value when
    it runs on into it with a word space, not across the gap to the photo."""
    x0, h = label_box[0], label_box[3]
    ws = sorted(words, key=lambda w: w.box[0])
    keep = [w for w in ws if w.box[0] >= x0 - h]
    if not keep:
        return []
    start = ws.index(keep[0])
    while start > 0:
        prev, cur = ws[start - 1], ws[start]
        gap = cur.box[0] - (prev.box[0] + prev.box[2])
        if gap > 1.2 * max(prev.box[3], cur.box[3]) or prev.box[0] < x0 - 12 * h:
            break
        start -= 1
    return ws[start:]


# bilingual place labels: the Vietnamese half, and where the English half (`/ Place of origin:`) ends, in widths
# of the Vietnamese half from the label's start (measured on real chip cards: origin 2.54-2.62, residence
# 2.13-2.29); the English word a value's first word may be fused with (`residence:Thuận`)
_ENGLISH_HALF: dict[str, tuple[str, float, str]] = {
    F.PLACE_OF_ORIGIN: ("QUE QUAN", 2.5, "ORIGIN"),
    F.PLACE_OF_RESIDENCE: ("NOI THUONG TRU", 2.15, "RESIDENCE"),
}


def drop_english_half(hit: LabelHit, words: list[Word], name: str) -> list[Word]:
    """The value's words on a bilingual label's line without the label's English half, however garbled
    (`Poce of 0261`, `%aco cv r%eforve`): on these cards the half ends where the Vietnamese half's width
    says, and a word fused with its last word (`residencs'Thôn`) keeps only its own part."""
    spec = _ENGLISH_HALF.get(name)
    if spec is None or not words:
        return words
    vietnamese, ratio, last = spec
    n = vietnamese.count(" ") + 1
    line = sorted((w for w in hit.line.words if w.box[0] >= hit.label_box[0]), key=lambda w: w.box[0])
    head = [w for w in line if len(word_key(w.text)) > 1][: n + 1]
    if len(head) <= n or fuzz.ratio(" ".join(word_key(w.text) for w in head[:n]), vietnamese) < 75:
        return words
    after = line[line.index(head[n - 1]) + 1 :]
    # a Vietnamese-only label (`Quê quán:`) is followed by its value; a bilingual one by its slash
    slash = after and (len(word_key(after[0].text)) <= 1 or fuzz.ratio(word_key(after[0].text), "PLACE") >= 60)
    if not slash:
        return words
    x0 = hit.label_box[0]
    cut = x0 + ratio * (head[n - 1].box[0] + head[n - 1].box[2] - x0)
    out: list[Word] = []
    for w in words:
        split = _split_fused(w, last)
        if split is not None:
            out.append(split)
        elif w.box[0] + w.box[2] / 2 >= cut:
            out.append(w)
    return out


def _split_fused(w: Word, last: str) -> Word | None:
    """The value's part of a word the layout pass fused with the label's last English word, or None."""
    key = word_key(w.text)
    if len(key) < len(last) + 2 or fuzz.ratio(key[: len(last)], last) < 75:
        return None
    m = re.search(r"[^\w\s]+(\w[^\W\d_]*)$", w.text)
    rest = m.group(1) if m else w.text[len(last) :]
    if sum(ch.isalpha() for ch in rest) < 2:
        return None
    x, y, bw, bh = w.box
    # the value starts where its share of the characters does, less a letter's width the read may have lost
    start = int(bw * (len(w.text) - len(rest)) / len(w.text) - 0.6 * bh)
    start = max(0, start)
    return Word(text=rest, confidence=w.confidence, box=(x + start, y, bw - start, bh))


# a label's last word and its value's first read as one word (`trú:Khu`, `trú:24/8`): letters, a colon, the value
_FUSED_COLON = re.compile(r"^([^\W\d_]{2,}:)(\w.*)$")


def split_colons(layout: TextPage) -> TextPage:
    """The layout with every word fused across a place label's colon split in two, each part with its share
    of the word's box: the label is found whole and the value keeps its first word."""

    def split(w: Word) -> list[Word]:
        m = _FUSED_COLON.match(w.text)
        # only a place label's (`Quê quán`, `Nơi thường trú`): a date's fused with its label reads as it is
        if m is None or word_key(m.group(1)) not in ("QUAN", "TRU") or sum(ch.isalnum() for ch in m.group(2)) < 2:
            return [w]
        x, y, bw, bh = w.box
        cut = int(bw * len(m.group(1)) / len(w.text))
        return [
            Word(text=m.group(1), confidence=w.confidence, box=(x, y, cut, bh)),
            Word(text=m.group(2), confidence=w.confidence, box=(x + cut, y, bw - cut, bh)),
        ]

    def line(ln: Line) -> Line:
        words = [part for w in ln.words for part in split(w)]
        return ln if len(words) == len(ln.words) else Line.of(words, confidence=ln.confidence)

    return TextPage.model_construct(
        blocks=[Block.model_construct(lines=[line(ln) for ln in b.lines]) for b in layout.blocks]
    )
