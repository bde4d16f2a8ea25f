"""Field extraction for every identity-card generation: label-anchored regions, field-specific OCR,
machine-readable zones first, then validation and cross-checks.

How a field is read:
1. one layout pass over the card (already done by the dispatcher) gives lines and word boxes;
2. the field's label is found fuzzily in those lines (OCR garbles labels too); its value is the rest of the
   line or the line(s) below, depending on the layout;
3. the value's region alone is read again with settings for that field: digits-only whitelist for numbers
   and dates, upscaling and per-character alternatives for names (then the name lexicon), plain `vie` for
   addresses. The layout pass reading is kept as a second opinion;
4. the QR payload and the MRZ, when they decode and verify, are the strongest sources; the MRZ name has no
   diacritics, so it confirms the printed name's letters and never replaces it;
5. every value goes through the validators; disagreements become warnings naming both values, and the
   evidence (sources agreeing, character confidences, validity) becomes a calibrated confidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from models.document import FieldValue
from models.elements import EMPTY_LINE, Line, TextPage, Word
from worker.extract import confidence as conf
from worker.extract import lexicon, places
from worker.extract import validate as v
from worker.ocr import CccdQr, MrzResult, Reader
from worker.vntext import clean, expand_address, name_key, strip_diacritics

DIGITS = "0123456789"
DATE_CHARS = "0123456789/-."
_TO_DIGIT = str.maketrans(
    {
        "Ø": "0",
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "Z": "2",
        "S": "5",
        "B": "8",
        "G": "6",
    }
)

# label variants per field, in name_key form (upper case, no diacritics); punctuation is ignored
LABELS: dict[str, tuple[str, ...]] = {
    "id_number": ("SO NO", "SO DINH DANH CA NHAN PERSONAL IDENTIFICATION NUMBER", "SO DINH DANH CA NHAN", "SO"),
    "full_name": ("HO VA TEN FULL NAME", "HO CHU DEM VA TEN KHAI SINH FULL NAME", "HO VA TEN", "HO TEN"),
    "date_of_birth": (
        "NGAY SINH DATE OF BIRTH",
        "NGAY THANG NAM SINH DATE OF BIRTH",
        "NGAY THANG NAM SINH",
        "SINH NGAY",
    ),
    "sex": ("GIOI TINH SEX", "GIOI TINH"),
    "nationality": ("QUOC TICH NATIONALITY", "QUOC TICH"),
    "place_of_origin": ("QUE QUAN PLACE OF ORIGIN", "QUE QUAN", "NGUYEN QUAN"),
    "place_of_residence": (
        "NOI THUONG TRU PLACE OF RESIDENCE",
        "NOI CU TRU PLACE OF RESIDENCE",
        "NOI DKHK THUONG TRU",
        "NOI THUONG TRU",
        "NOI CU TRU",
    ),
    "place_of_birth": ("NOI DANG KY KHAI SINH PLACE OF BIRTH", "NOI DANG KY KHAI SINH"),
    "date_of_expiry": ("NGAY THANG NAM HET HAN DATE OF EXPIRY", "CO GIA TRI DEN", "DATE OF EXPIRY"),
    "issue_date": ("NGAY THANG NAM DATE MONTH YEAR", "NGAY THANG NAM CAP DATE OF ISSUE"),
    "personal_identification": (
        "DAC DIEM NHAN DANG PERSONAL IDENTIFICATION",
        "DAC DIEM NHAN DANG",
        "DAU VET RIENG VA DI HINH",
    ),
    "ethnicity": ("DAN TOC",),
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

# issuers printed on the backs, canonical spelling; OCR of the two-line capitals is snapped to the nearest
ISSUERS = (
    "CỤC TRƯỞNG CỤC CẢNH SÁT QUẢN LÝ HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI",
    "CỤC TRƯỞNG CỤC CẢNH SÁT ĐKQL CƯ TRÚ VÀ DLQG VỀ DÂN CƯ",
    "GIÁM ĐỐC CÔNG AN TỈNH THỪA THIÊN HUẾ",
    "GIÁM ĐỐC CA TỈNH THỪA THIÊN HUẾ",
    "BỘ CÔNG AN",
)

# which fields each generation prints on each side (what is searched for; the rest comes from QR/MRZ)
PRINTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("cmnd_9", "front"): ("id_number", "full_name", "date_of_birth", "place_of_origin", "place_of_residence"),
    ("cmnd_9", "back"): ("personal_identification", "issue_date", "issuer", "ethnicity"),
    ("cmnd_12", "front"): ("id_number", "full_name", "date_of_birth", "sex", "ethnicity", "place_of_origin", "place_of_residence", "date_of_expiry"),
    ("cmnd_12", "back"): ("personal_identification", "issue_date", "issuer"),
    ("cccd_barcode_2016", "front"): ("id_number", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin", "place_of_residence", "date_of_expiry"),
    ("cccd_barcode_2016", "back"): ("personal_identification", "issue_date", "issuer"),
    ("cccd_chip_2021", "front"): ("id_number", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin", "place_of_residence", "date_of_expiry"),
    ("cccd_chip_2021", "back"): ("personal_identification", "issue_date", "issuer"),
    ("cancuoc_2024", "front"): ("id_number", "full_name", "date_of_birth", "sex", "nationality"),
    ("cancuoc_2024", "back"): ("place_of_residence", "place_of_birth", "issue_date", "date_of_expiry", "issuer"),
}  # fmt: skip

MULTILINE = {"place_of_origin": 2, "place_of_residence": 3, "place_of_birth": 2, "personal_identification": 2}


@dataclass
class Reading:
    """One source's value for a field, with what the confidence model needs to know about it."""

    value: object
    source: str  # "ocr" (region re-read), "layout" (first pass), "qr", "mrz", "lexicon", "id_number"
    char_conf: float = 0.0
    min_char_conf: float = 0.0
    valid: bool = True
    box: list[int] | None = None
    extra: dict[str, float] = field(default_factory=dict)


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
def _word_key(text: str) -> str:
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
        keys = [_word_key(w.text) for w in line.words]
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
                        x0 = ws[0].box[0]
                        x1 = max(w.box[0] + w.box[2] for w in ws)
                        # median, not union: one word fused with a speck of the photo would make the
                        # label look two lines tall and swallow the value line below it
                        y0 = int(np.median([w.box[1] for w in ws]))
                        h = int(np.median([w.box[3] for w in ws]))
                        best = LabelHit(line, k, score, (x0, y0, x1 - x0, h))
    return best


def _strip_tail(words: list[Word], own: tuple[str, ...] = ()) -> list[Word]:
    """Drop what precedes a value: specks (`ì`, `›`), a split label's tail (`/ Place of origin:`), or the
    whole label again when the layout pass put it on the value's line."""
    keys = [_word_key(w.text) for w in words]
    i = 0
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
                break
        else:
            break
    return words[i:]


def _lines_below(
    lines: list[Line],
    hit_box: tuple[int, int, int, int],
    *,
    max_lines: int,
    x_tol: float = 3.0,
    own: tuple[str, ...] = (),
    exclude: Line | None = None,
) -> list[Line]:
    """Lines right under a label, starting near its left edge, until a gap or another field's label."""
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
        if lx + lw < x0 or lx > x0 + x_tol * h * 4:
            continue
        kind = _label_kind(line, own)
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


def _label_kind(line: Line, own: tuple[str, ...] = ()) -> str | None:
    """ "own" when the line starts with (part of) this field's label, "other" for another field's, else None."""
    keys = [_word_key(w.text) for w in line.words[:7]]
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


def _crop(img: np.ndarray, box: tuple[int, int, int, int], *, pad_x: float = 0.4, pad_y: float = 0.08) -> np.ndarray:
    # tight vertically: a sliver of the neighbouring lines makes psm 7 return nothing
    x, y, w, h = box
    px, py = int(h * pad_x) + 2, int(h * pad_y) + 2
    H, W = img.shape[:2]
    return img[max(0, y - py) : min(H, y + h + py), max(0, x - px) : min(W, x + w + px)]


def _union(words: list[Word] | list[Line]) -> tuple[int, int, int, int]:
    x0 = min(w.box[0] for w in words)
    y0 = min(w.box[1] for w in words)
    x1 = max(w.box[0] + w.box[2] for w in words)
    y1 = max(w.box[1] + w.box[3] for w in words)
    return (x0, y0, x1 - x0, y1 - y0)


def _scale_for(h: int, target: float = 42.0) -> float:
    """Upscale so the text is ~target px tall: the `vie` model misses diacritics on small capitals."""
    return float(min(3.0, max(1.0, target / max(h, 1))))


def _read(
    reader: Reader,
    img: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    scale: float | None = None,
    pad_y: float = 0.08,
    **kw: Any,
) -> Line:
    crop = _crop(img, box, pad_y=pad_y)
    if crop.size == 0:
        return EMPTY_LINE
    sc = _scale_for(box[3]) if scale is None else scale
    r = reader.read_line(crop, scale=sc, **kw)
    if not r.text.strip() and kw.get("psm", 7) == 7:
        # psm 7 gives up on a line with clutter above/below; raw-line mode does not
        r = reader.read_line(crop, scale=sc, **{**kw, "psm": 13})
    return r


# when a whitelisted re-read fails its format (a digit dropped or doubled), the same region again with other
# segmentation and size: the recogniser's slips depend on both, so one of these usually reads it whole
_RETRIES = ({"psm": 7, "scale": 1.0}, {"psm": 13, "scale": 1.0}, {"psm": 8, "scale": 1.5})
_LETTERS_AS_DIGITS = frozenset(ch for k in _TO_DIGIT if (ch := chr(k)).isalpha() and ch != "Ø")
# a letter read where a digit stands (`0B`, `DA6G`) was turned into one by guessing; such a reading counts
# for less in a vote than one whose digits were seen as digits
_GUESSED = 0.5


def _letters_mapped(text: str) -> bool:
    return any(ch in _LETTERS_AS_DIGITS for ch in text)


def _stats(r: Line) -> tuple[float, float]:
    syms = r.symbols
    if not syms:
        return 0.0, 0.0
    cs = [s.confidence for s in syms]
    return float(np.mean(cs)), float(min(cs))


# --- per-field readers -------------------------------------------------------------------------------------


def _digit_runs(lines: list[Line], length: int) -> list[tuple[str, Word | None, Line]]:
    out: list[tuple[str, Word | None, Line]] = []
    for line in lines:
        for w in line.words:
            d = re.sub(r"\D", "", w.text.translate(_TO_DIGIT))
            if len(d) == length:
                out.append((d, w, line))
        joined = re.sub(r"\s", "", line.text.translate(_TO_DIGIT))
        for m in re.finditer(rf"(?<!\d)\d{{{length}}}(?!\d)", joined):
            if not any(m.group(0) == o[0] for o in out):
                out.append((m.group(0), None, line))
    return out


def read_id_number(
    reader: Reader, img: np.ndarray, layout: TextPage, generation: str, colour: np.ndarray | None = None
) -> list[Reading]:
    length = 9 if generation == "cmnd_9" else 12
    runs = _digit_runs(layout.lines, length)
    if not runs:
        # the number may have been split or garbled: try the line after the label
        hit = find_label(layout.lines, LABELS["id_number"])
        if hit is None:
            return []
        words = _strip_tail(hit.value_words) or [
            w
            for ln in _lines_below(layout.lines, hit.label_box, exclude=hit.line, max_lines=1, own=LABELS["id_number"])
            for w in ln.words
        ]
        if not words:
            return []
        runs = [("", None, Line(text="", confidence=0.0, box=_union(words), words=words))]
    readings: list[Reading] = []
    number, word, line = runs[0]
    box = word.box if word is not None else line.box
    if number:
        readings.append(
            Reading(number, "layout", word.confidence if word else line.confidence, valid=True, box=list(box))
        )
    # single-word mode: with a whitelist, line mode (psm 7) sometimes doubles a digit (1918538901)
    r = _read(reader, img, box, whitelist=DIGITS, psm=8)
    digits = re.sub(r"\D", "", r.text)
    for retry in _RETRIES:
        if len(digits) == length:
            break
        r2 = _read(reader, img, box, whitelist=DIGITS, **retry)
        if len(d := re.sub(r"\D", "", r2.text)) == length:
            r, digits = r2, d
    mean, mn = _stats(r)
    if digits:
        readings.append(_id_reading(digits, "ocr", mean, mn, length, box))
    if colour is not None and colour.ndim == 3:
        # a second reading from the green channel, where the red ink of older cards is darkest: when the
        # two re-reads and the layout pass disagree, the vote settles it
        # without a whitelist this time: the two re-reads then fail in different ways
        r2 = _read(reader, colour[:, :, 1], box, psm=8)
        d2 = re.sub(r"\D", "", r2.text.translate(_TO_DIGIT))
        m2, n2 = _stats(r2)
        if d2:
            token = max(re.findall(r"\S+", r2.text) or [""], key=len)
            rd = _id_reading(d2, "ocr_alt", m2, n2, length, box)
            if _letters_mapped(token):
                rd.extra["weight"] = rd.extra.get("weight", 1.0) * _GUESSED
            readings.append(rd)
    if readings and readings[0].source == "layout":
        first = readings[0]
        readings[0] = _id_reading(str(first.value), "layout", first.char_conf, first.min_char_conf, length, box)
    return readings


def _id_reading(digits: str, source: str, mean: float, mn: float, length: int, box: tuple[int, ...]) -> Reading:
    """A number reading with what its structure says: a 12-digit number whose century/sex digit is above 5
    cannot be right; one whose province code is unknown can (2025 mergers), but is less likely a good read."""
    valid = len(digits) == length
    extra: dict[str, float] = {}
    if valid and length == 12:
        if int(digits[3]) > 5:
            valid = False
        elif digits[:3] not in v.PROVINCE_CODES:
            extra["weight"] = 0.5
    return Reading(digits, source, mean, mn, valid, list(box), extra)


_LOOSE_DATE = re.compile(r"(?<!\d)(\d{1,2})\D{1,3}(\d{1,2})\D{1,3}(\d{4})(?!\d)")


def _date_in(text: str) -> date | None:
    """A day-first date in OCR text, tolerating odd separators (`27=9B-1977`) and letter/digit confusions;
    None for a year no card can carry (4955 is a misread 1955, not a date)."""
    t = text.translate(_TO_DIGIT)
    m = _LOOSE_DATE.search(t)
    if m:
        d = v.make_date(int(m.group(3)), int(m.group(2)), int(m.group(1))) or _repair_day_month(*m.groups())
    else:
        d = v.parse_date(t) or _slash_as_digit(t)
    return d if d is not None and 1890 <= d.year <= 2125 else None


# tens digits of a day or month can only be 0-3 / 0-1: what a typewriter face on a dotted guide line
# turns them into
_TENS_CONFUSIONS = {"9": "0", "8": "0", "6": "0", "4": "1", "7": "1"}


def _slash_as_digit(text: str) -> date | None:
    """`12/1272021`: a separator read as a digit. Nine digits in one token, one of them at a separator's
    place: drop it, when exactly one choice gives a real date."""
    for token in re.findall(r"[\d/.\-]{9,12}", text):
        digits = re.sub(r"\D", "", token)
        if len(digits) == 8 and token.isdigit():
            return v.make_date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
        if len(digits) == 9:
            found = set()
            for i in (2, 4):
                x = digits[:i] + digits[i + 1 :]
                if (d := v.make_date(int(x[4:]), int(x[2:4]), int(x[:2]))) is not None:
                    found.add(d)
            if len(found) == 1:
                return found.pop()
    return None


def _was_repaired(text: str) -> bool:
    m = _LOOSE_DATE.search(text.translate(_TO_DIGIT))
    return m is not None and v.make_date(int(m.group(3)), int(m.group(2)), int(m.group(1))) is None


def _repair_day_month(day: str, month: str, year: str) -> date | None:
    """A date impossible as read (`03-40-1955`), made possible by one tens-digit confusion; only when
    exactly one repair works."""
    found = set()
    for which in ("day", "month"):
        text = day if which == "day" else month
        if len(text) == 2 and text[0] in _TENS_CONFUSIONS:
            fixed = _TENS_CONFUSIONS[text[0]] + text[1]
            dd, mm = (fixed, month) if which == "day" else (day, fixed)
            if (d := v.make_date(int(year), int(mm), int(dd))) is not None:
                found.add(d)
    return found.pop() if len(found) == 1 else None


_NO_EXPIRY = re.compile(r"KH\w*\s*TH\w*\s*H\w*N")


def _expiry_under_photo(reader: Reader, img: np.ndarray, layout: TextPage) -> list[Reading]:
    """Fronts print the expiry under the photo in small type the layout pass often misses: look there."""
    h, w = img.shape[:2]
    for line in layout.lines:
        x, y, _, _ = line.box
        if x < 0.3 * w and y > 0.75 * h:
            d = _date_in(line.text)
            if d is not None:
                return [Reading(d.isoformat(), "layout", line.confidence, valid=True, box=list(line.box))]
    region = img[int(0.8 * h) :, : int(0.3 * w)]
    text = " ".join(reader.read_line(region, psm=6, scale=1.5).text.split())
    d = _date_in(text)
    if d is not None:
        return [Reading(d.isoformat(), "ocr", 0.8, valid=True, box=[0, int(0.8 * h), int(0.3 * w), h - int(0.8 * h)])]
    if _NO_EXPIRY.search(name_key(text)):
        return [Reading(None, "ocr", 0.8, valid=True, extra={"no_expiry": 1.0})]
    return []


def read_date_field(reader: Reader, img: np.ndarray, layout: TextPage, name: str) -> list[Reading]:
    hit = find_label(layout.lines, LABELS[name])
    if hit is None:
        if name == "date_of_expiry":
            return _expiry_under_photo(reader, img, layout)
        return _any_date(img, layout, earliest=True) if name == "date_of_birth" else []
    candidates_lines = [
        hit.line,
        *_lines_below(layout.lines, hit.label_box, exclude=hit.line, max_lines=3, own=LABELS[name]),
    ]
    for i, line in enumerate(candidates_lines):
        words = _strip_tail(hit.value_words) if i == 0 else line.words
        text = " ".join(w.text for w in words)
        if name == "date_of_expiry" and _NO_EXPIRY.search(name_key(text)):
            return [Reading(None, "layout", line.confidence, valid=True, box=list(line.box), extra={"no_expiry": 1.0})]
        date_words = [w for w in words if re.search(r"\d", w.text.translate(_TO_DIGIT))]
        if sum(ch.isdigit() for w in date_words for ch in w.text.translate(_TO_DIGIT)) < 6:
            continue
        # the layout pass garbles separators and digits (`Ø3 -96-1993`): the region's re-read decides
        d = _date_in(text)
        box = _union(date_words)
        out = [Reading(d.isoformat() if d else None, "layout", line.confidence, valid=d is not None, box=list(box))]
        # a date is one token: word mode reads it best (line mode doubles or drops digits); a second
        # reading in raw-line mode without a whitelist fails differently, and the vote settles conflicts
        out += _reread_date(reader, img, box)
        return out
    if name == "date_of_expiry":
        return _expiry_under_photo(reader, img, layout)
    return _any_date(img, layout, earliest=True) if name == "date_of_birth" else []


def _reread_date(reader: Reader, img: np.ndarray, box: tuple[int, int, int, int]) -> list[Reading]:
    """A date is one token: word mode with the date alphabet reads it best (line mode doubles or drops
    digits), retried with other settings when what it reads is no date; a second reading in raw-line
    mode without a whitelist fails differently, and the vote settles conflicts."""
    out: list[Reading] = []
    for source, kw in (("ocr", {"whitelist": DATE_CHARS, "psm": 8}), ("ocr_alt", {"psm": 13})):
        r = _read(reader, img, box, **kw)
        d2 = _date_in(r.text)
        if source == "ocr" and d2 is None:
            for retry in _RETRIES:
                r2 = _read(reader, img, box, whitelist=DATE_CHARS, **retry)
                if (d2 := _date_in(r2.text)) is not None:
                    r = r2
                    break
        mean, mn = _stats(r)
        if d2 is not None and _was_repaired(r.text):
            mean, mn = mean * 0.5, mn * 0.5  # a repaired date is a guess the confidence must show
        rd = Reading(d2.isoformat() if d2 else None, source, mean, mn, d2 is not None, list(box))
        m = _LOOSE_DATE.search(r.text.translate(_TO_DIGIT))
        if d2 is not None and _letters_mapped(r.text[m.start() : m.end()] if m else r.text):
            rd.extra["weight"] = _GUESSED  # `11-OB-1991`: the B was a 5, not an 8
        out.append(rd)
    return out


def _any_date(img: np.ndarray, layout: TextPage, *, earliest: bool) -> list[Reading]:
    """The label was not found: a front's birth date is its earliest date (expiry and issue come later)."""
    found = [(d, line) for line in layout.lines if line.text.count("<") < 3 and (d := _date_in(line.text)) is not None]
    if not found:
        return []
    d, line = min(found, key=lambda t: t[0]) if earliest else max(found, key=lambda t: t[0])
    return [Reading(d.isoformat(), "layout", line.confidence * 0.8, valid=True, box=list(line.box))]


def _visual_lines(lines: list[Line]) -> list[Line]:
    """Layout lines side by side on one baseline joined into one (`Ngày 16 t` + `háng 12 năm 2015`)."""
    out: list[Line] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3] / 2, ln.box[0])):
        cy = line.box[1] + line.box[3] / 2
        if out:
            prev = out[-1]
            pcy = prev.box[1] + prev.box[3] / 2
            if abs(cy - pcy) < 0.4 * min(line.box[3], prev.box[3]) and line.box[0] >= prev.box[0]:
                words = [*prev.words, *line.words]
                out[-1] = Line(
                    text=f"{prev.text} {line.text}",
                    confidence=min(prev.confidence, line.confidence),
                    box=_union(words),
                    words=words,
                )
                continue
        out.append(line)
    return out


def read_issue_date_words(layout: TextPage) -> list[Reading]:
    """`Ngày 13 tháng 09 năm 2020` on the older backs."""
    for line in _visual_lines(layout.lines):
        key = name_key(line.text).replace(" ", "")  # a word split in two (`t háng`) still spells the label
        m = re.search(
            r"NG[A-Z]{0,3}\W*([\dOIlSB]{1,2})\W*[A-Z]{1,5}\W*([\dOIlSB]{1,2})\W*N[A-Z]{0,2}\W*([\dOIlSB]{4})", key
        )
        if m:
            day, month, year = (int(g.translate(_TO_DIGIT)) for g in m.groups())
            d = v.make_date(year, month, day)
            return [
                Reading(
                    d.isoformat() if d else None, "layout", line.confidence, valid=d is not None, box=list(line.box)
                )
            ]
    # the backs print one date besides the MRZ: take a lone day-first date anywhere on the card
    for line in layout.lines:
        if line.text.count("<") < 3 and (d := _date_in(line.text)) is not None:
            return [Reading(d.isoformat(), "layout", line.confidence * 0.8, valid=True, box=list(line.box))]
    return []


def read_issue_date_region(reader: Reader, img: np.ndarray) -> list[Reading]:
    """The layout pass missed the issue date: read the band where backs print it (right of the prints on
    older cards, upper left on the chip card) and look again."""
    H, W = img.shape[:2]
    text = reader.read_line(img[int(0.08 * H) : int(0.62 * H), :], psm=6).text
    lines = [Line(text=t, confidence=0.5, box=(0, 0, W, H), words=[]) for t in text.splitlines() if t.strip()]
    found = read_issue_date_words(TextPage.of_lines(lines))
    for r in found:
        r.source, r.char_conf = "ocr", 0.5
    return found


def read_text_field(
    reader: Reader, img: np.ndarray, layout: TextPage, name: str, *, max_lines: int = 1, choices: bool = False
) -> tuple[list[Reading], list[Line]]:
    """Text after the label (same line, or the lines below when the label ends its line)."""
    hit = find_label(layout.lines, LABELS[name])
    if hit is None:
        if name == "full_name" and (line := _name_line(layout, img.shape[0])) is not None:
            return _read_value_lines(reader, img, [(line.words, line)], choices=choices)
        return [], []
    value_lines: list[tuple[list[Word], Line]] = []
    first = _strip_tail(hit.value_words, LABELS[name])
    # a speck after the label (`Họ và tên: À`) is not the value: the value is on the next line
    if first and sum(ch.isalnum() for w in first for ch in w.text) >= 3:
        value_lines.append((first, hit.line))
    for line in _lines_below(
        layout.lines, hit.label_box, exclude=hit.line, max_lines=max_lines - len(value_lines), own=LABELS[name]
    ):
        if len(value_lines) >= max_lines:
            break
        # drop words left of the label column (the photo, the expiry date under it)
        words = _strip_tail(_right_of(line.words, hit.label_box), LABELS[name])
        if words:
            value_lines.append((words, line))
    if not value_lines and name == "full_name" and (line := _name_line(layout, img.shape[0])) is not None:
        value_lines = [(line.words, line)]
    if not value_lines:
        return [], []
    return _read_value_lines(reader, img, value_lines, choices=choices)


def _right_of(words: list[Word], label_box: tuple[int, int, int, int]) -> list[Word]:
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


def _read_value_lines(
    reader: Reader, img: np.ndarray, value_lines: list[tuple[list[Word], Line]], *, choices: bool
) -> tuple[list[Reading], list[Line]]:
    layout_text = " ".join(" ".join(w.text for w in ws) for ws, _ in value_lines)
    readings = [
        Reading(
            layout_text,
            "layout",
            float(np.mean([w.confidence for ws, _ in value_lines for w in ws])),
            box=list(_union([w for ws, _ in value_lines for w in ws])),
        )
    ]
    reads: list[Line] = []
    for ws, _ in value_lines:
        box = _union(ws)
        r = _read(reader, img, box, psm=7, choices=choices)
        seen = _word_count(" ".join(w.text for w in ws))
        if _word_count(r.text) < seen:
            # the re-read lost a word the layout pass saw: a tight crop cuts the marks above a capital
            # (`VÕ` → `V`, then dropped as a speck); more room above and below, then raw-line mode
            for kw in ({"pad_y": 0.2, "psm": 7}, {"pad_y": 0.2, "psm": 13}):
                r2 = _read(reader, img, box, choices=choices, **kw)
                if _word_count(r2.text) == seen:
                    r = r2
                    break
        reads.append(r)
    text = " ".join(r.text for r in reads if r.text)
    syms = [s.confidence for r in reads for s in r.symbols]
    readings.append(
        Reading(
            text,
            "ocr",
            float(np.mean(syms)) if syms else 0.0,
            float(min(syms)) if syms else 0.0,
            bool(text),
            list(_union([w for ws, _ in value_lines for w in ws])),
        )
    )
    return readings, reads


def _word_count(text: str) -> int:
    """Words of two or more letters or digits (specks and punctuation are not words)."""
    return sum(1 for w in text.split() if sum(ch.isalnum() for ch in w) >= 2)


_TITLE_KEYS = (
    "CONG HOA",
    "VIET NAM",
    "CAN CUOC",
    "CHUNG MINH",
    "DOC LAP",
    "SOCIALIST",
    "IDENTITY",
    "CITIZEN",
    "REPUBLIC",
    "INDEPENDENCE",
    "HANH PHUC",
    "NHAN DAN",
)


def _name_line(layout: TextPage, height: int) -> Line | None:
    """No name label found: the name is the run of capitals (2-6 words) ending the first line under the
    number that is not a title; a garbled label before it (`nọ và tấn: TRẦN ĐỨC NHÂN`) is dropped."""
    number_y = next((ln.box[1] for ln in layout.lines if re.search(r"\d{9,}", ln.text.replace(" ", ""))), 0)
    for line in sorted(layout.lines, key=lambda ln: ln.box[1]):
        if line.box[1] <= number_y or line.box[1] > 0.75 * height or _label_kind(line) == "other":
            continue
        run: list[Word] = []
        for w in reversed(line.words):
            letters = "".join(ch for ch in w.text if ch.isalpha())
            # trailing punctuation is a speck (`DƯƠNG VĂN AN:`), a colon inside is a label's
            if len(letters) >= 2 and letters.isupper() and not re.search(r"[\d:]", w.text.rstrip(":.;,")):
                run.insert(0, w)
            elif len(letters) >= 2 or ":" in w.text:
                break
        key = name_key(" ".join(w.text for w in run))
        if 2 <= len(run) <= 6 and not any(t in key for t in _TITLE_KEYS):
            return Line(text=" ".join(w.text for w in run), confidence=line.confidence, box=_union(run), words=run)
    return None


def _clean_name(text: str) -> str:
    text = clean(text).upper()
    text = re.sub(r"[^A-ZÀ-ỸĐ ]", " ", text)
    words = [_one_vowel(w) for w in text.split() if len(w) > 1 or w in ("Ý", "Ỷ")]
    return " ".join(words)


def _one_vowel(word: str) -> str:
    """A stacked-diacritic vowel the recogniser emitted twice (`HĂẰNG`, `LẦÂM`): no Vietnamese syllable
    holds the same vowel letter twice with marks on it, so keep the one that carries the most marks."""
    out: list[str] = []
    for ch in word:
        if out and ch in _VOWELS and out[-1] in _VOWELS and not (ch.isascii() and out[-1].isascii()):
            prev = out[-1]
            # the same letter (Ă and Ằ, Â and Ầ), not merely the same base: Ư and U are two letters (HỮU)
            if _untoned(prev) == _untoned(ch) and strip_diacritics(ch) != "O":
                if len(unicodedata.normalize("NFD", ch)) > len(unicodedata.normalize("NFD", prev)):
                    out[-1] = ch
                continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _untoned(ch: str) -> str:
    """The letter without its tone mark, keeping breve, circumflex and horn (Ằ → Ă, Ữ → Ư)."""
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", ch) if c not in _TONE_MARKS))


_VOWELS = frozenset("AĂÂEÊIOÔƠUƯY" + "ÀẰẦÈỀÌÒỒỜÙỪỲÁẮẤÉẾÍÓỐỚÚỨÝẢẲẨẺỂỈỎỔỞỦỬỶÃẴẪẼỄĨÕỖỠŨỮỸẠẶẬẸỆỊỌỘỢỤỰỴ")


def correct_name_reading(reads: list[Line]) -> tuple[str, float, int]:
    """OCR'd name through the lexicon: (name, min word posterior, changes)."""
    words: list[str] = []
    choices: list[list[list[tuple[str, float]]] | None] = []
    for r in reads:
        for w in r.words:
            cleaned = _clean_name(w.text)
            if not cleaned:
                continue
            words.append(cleaned)
            choices.append([s.choices for s in w.symbols] if cleaned == clean(w.text).upper() else None)
    if not words:
        return "", 0.0, 0
    name, probs, changes = lexicon.correct_name(words, choices)
    known = [p for p in probs if p > 0]
    return name, (min(known) if known else 0.0), changes


def snap_issuer(text: str) -> tuple[str | None, float]:
    key = name_key(text)
    best, score = None, 0.0
    for issuer in ISSUERS:
        s = (
            fuzz.partial_ratio(name_key(issuer), key)
            if len(key) >= len(name_key(issuer))
            else fuzz.ratio(name_key(issuer), key)
        )
        if s > score:
            best, score = issuer, s
    return (best, score / 100) if score >= 75 else (None, score / 100)


_ISSUER_WORDS = {"CUC", "TRUONG", "GIAM", "DOC", "BO", "CONG", "AN", "CANH", "SAT"}


def _seal_free(colour: np.ndarray | None, grey: np.ndarray) -> np.ndarray:
    """The red channel: red seal ink turns as light as the paper, black text stays black."""
    if colour is None or colour.ndim != 3:
        return grey
    return colour[:, :, 2]


def issuer_region_text(reader: Reader, img: np.ndarray, colour: np.ndarray | None = None) -> str:
    """Where backs print the issuer and seal, read without the seal (the layout pass often loses it)."""
    H, W = img.shape[:2]
    box = (int(0.3 * W), int(0.15 * H), int(0.7 * W), int(0.55 * H))
    src = _seal_free(colour, img)[box[1] : box[1] + box[3], box[0] : box[0] + box[2]]
    return reader.read_line(src, psm=6).text


def has_issuer_trigger(text: str) -> bool:
    key = name_key(text)
    return any(fuzz.partial_ratio(k, key) >= 80 for k in ("CUC TRUONG", "GIAM DOC", "BO CONG AN", "CUC CANH SAT"))


def read_issuer(
    reader: Reader,
    img: np.ndarray,
    layout: TextPage,
    colour: np.ndarray | None = None,
    region_text: str | None = None,
) -> list[Reading]:
    lines = layout.lines
    for i, line in enumerate(lines):
        if not has_issuer_trigger(line.text):
            continue
        text = " ".join(ln.text for ln in lines[i : i + 2])
        issuer, s = snap_issuer(text)
        trigger = [wd for wd in line.words if _word_key(wd.text) in _ISSUER_WORDS] or line.words
        x, y, w, h = _union(trigger)
        # the signing block is centred: re-read two lines around the trigger without the seal
        H, W = img.shape[:2]
        cx = x + w / 2
        box = (max(0, int(cx - 9 * h)), max(0, y - h // 4), int(18 * h), int(2.6 * h))
        src = _seal_free(colour, img)
        crop = src[box[1] : min(H, box[1] + box[3]), box[0] : min(W, box[0] + box[2])]
        r = reader.read_line(crop, psm=6, scale=_scale_for(h)) if crop.size else EMPTY_LINE
        issuer2, s2 = snap_issuer(r.text)
        if issuer2 is not None and s2 >= s:
            issuer, s = issuer2, s2
        if issuer:
            return [Reading(issuer, "ocr", s, s, valid=True, box=list(box), extra={"match": s})]
    # the layout pass lost the signing block under the seal: read the part of the card where it sits
    text = region_text if region_text is not None else issuer_region_text(reader, img, colour)
    issuer, s = snap_issuer(text)
    if issuer is not None and has_issuer_trigger(text):
        return [Reading(issuer, "ocr", s * 0.9, s * 0.9, valid=True, extra={"match": s})]
    return []


def _sex_from(text: str) -> str | None:
    k = _word_key(text)
    if not k:
        return None
    if k.startswith("NAM") or k in ("NA", "NAN", "NAH"):
        return "male"
    if k.startswith(("NU", "NO", "NE", "NC", "N0", "NOE")) or k == "N":
        return "female"
    return None


def read_sex(reader: Reader, img: np.ndarray, layout: TextPage) -> list[Reading]:
    hit = find_label(layout.lines, LABELS["sex"])
    words = _strip_tail(hit.value_words) if hit is not None else []
    if not words or _sex_from(words[0].text) is None:
        if hit is None:
            return []
        # the value fused with the label (`tính/sex:.M`): read the whole line again and take what follows
        lx, ly, lw, lh = hit.line.box
        # the value is set larger than the label: widen and heighten the box around the label line
        grow = int(max(6 * lh, 0.15 * img.shape[1]))
        r = _read(reader, img, (lx, max(0, ly - lh // 2), lw + grow, 2 * lh), psm=7)
        key = name_key(r.text)
        m = re.search(r"SEX\W*(\w+)", key) or re.search(r"TINH\W*(\w+)", key)
        sex = _sex_from(m.group(1)) if m else None
        mean, mn = _stats(r)
        return [Reading(sex, "ocr", mean, mn, sex is not None, list(hit.line.box))] if sex else []
    w = words[0]
    out = [Reading(_sex_from(w.text), "layout", w.confidence, valid=True, box=list(w.box))]
    r = _read(reader, img, w.box, psm=8)
    mean, mn = _stats(r)
    out.append(Reading(_sex_from(r.text), "ocr", mean, mn, _sex_from(r.text) is not None, list(w.box)))
    return out


# --- putting it together -----------------------------------------------------------------------------------


def _machine_readable_fields(qr: CccdQr | None, mrz: MrzResult | None) -> set[str]:
    """Fields a decoded QR or a zone that passes every check gives outright: not worth a second layout
    pass (~0.13 s on a card) when the printed line was lost."""
    out: set[str] = set()
    if qr is not None:
        out |= {"id_number", "full_name", "place_of_residence"}
        out |= {
            name
            for name, v in (("date_of_birth", qr.date_of_birth), ("sex", qr.sex), ("issue_date", qr.issue_date))
            if v
        }
    if mrz is not None and mrz.valid:
        out |= {
            name
            for name, v in (
                ("id_number", mrz.id_number),
                ("date_of_birth", mrz.birth_date),
                ("sex", mrz.sex),
                ("date_of_expiry", mrz.expiry_date),
            )
            if v
        }
    return out


# fields worth a second layout pass when the first found none of them
_SECOND_PASS = frozenset(
    {"id_number", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin", "place_of_residence",
     "place_of_birth", "date_of_expiry", "issue_date"}
)  # fmt: skip


def _has_value(rs: list[Reading]) -> bool:
    return any((r.valid and r.value not in (None, "")) or "no_expiry" in r.extra for r in rs)


def _read_printed(
    reader: Reader,
    name: str,
    img: np.ndarray,
    layout: TextPage,
    generation: str,
    colour: np.ndarray | None,
    issuer_text: str | None,
) -> list[Reading]:
    """Every OCR reading of one printed field (layout pass, region re-reads, lexicon)."""
    if name == "id_number":
        return read_id_number(reader, img, layout, generation, colour)
    if name in ("date_of_birth", "date_of_expiry"):
        return read_date_field(reader, img, layout, name)
    if name == "issue_date":
        return (
            read_date_field(reader, img, layout, name)
            or read_issue_date_words(layout)
            or read_issue_date_region(reader, img)
        )
    if name == "sex":
        return read_sex(reader, img, layout)
    if name == "issuer":
        return read_issuer(reader, img, layout, colour, issuer_text)
    if name == "full_name":
        rs, name_reads = read_text_field(reader, img, layout, name, max_lines=1, choices=True)
        for r in rs:
            r.value = _clean_name(str(r.value))
        if name_reads:
            corrected, post, changes = correct_name_reading(name_reads)
            if corrected:
                rs.append(
                    Reading(
                        corrected,
                        "lexicon",
                        rs[-1].char_conf,
                        rs[-1].min_char_conf,
                        True,
                        rs[-1].box,
                        {"posterior": post, "changes": float(changes)},
                    )
                )
        return rs
    rs, _ = read_text_field(reader, img, layout, name, max_lines=MULTILINE.get(name, 1))
    for r in rs:
        r.value = _clean_value(name, str(r.value))
    if name == "nationality" and not _has_value(rs):
        rs = _nationality_without_label(layout)
    return rs


def _nationality_without_label(layout: TextPage) -> list[Reading]:
    """The faint label was lost but its value was read (`›- Việt Nam`): a short line ending in Việt Nam that
    is not the national motto."""
    for line in layout.lines:
        key = name_key(line.text)
        if (
            re.search(r"\bVIET NAM\W*$", key)
            and len(key.split()) <= 4
            and not re.search(r"CONG HOA|REPUBLIC|CHU NGHIA|SOCIALIST", key)
        ):
            return [Reading("Việt Nam", "layout", line.confidence * 0.8, valid=True, box=list(line.box))]
    return []


def _digit_string(name: str, value: object) -> str | None:
    """The characters a per-position vote compares: the number itself, a date as DDMMYYYY."""
    if name == "id_number":
        return str(value) if value and str(value).isdigit() else None
    d = _iso(value)
    return d.strftime("%d%m%Y") if d else None


def _add_consensus(readings: dict[str, list[Reading]], name: str) -> None:
    """Three or more OCR readings of a number or date that disagree: their per-character weighted majority
    joins the vote as one more reading (`079147329742`, `179147320742`, `078147329742` → `079147329742`:
    each misread one digit, at different places). Nothing is added on a tied position."""
    rs = [r for r in readings.get(name, []) if r.valid and r.source in ("ocr", "ocr_alt", "layout")]
    strings = [_digit_string(name, r.value) for r in rs]
    pairs = [(r, x) for r, x in zip(rs, strings, strict=True) if x]
    if len(pairs) < 3 or len({x for _, x in pairs}) < 2 or len({len(x) for _, x in pairs}) != 1:
        return
    out = []
    for i in range(len(pairs[0][1])):
        votes: dict[str, float] = {}
        for r, x in pairs:
            votes[x[i]] = votes.get(x[i], 0.0) + _VOTE[r.source] * r.extra.get("weight", 1.0)
        ranked = sorted(votes.values(), reverse=True)
        if len(ranked) > 1 and ranked[0] - ranked[1] < 1e-9:
            return
        out.append(max(votes, key=lambda ch: votes[ch]))
    joined = "".join(out)
    means = [r.char_conf for r, _ in pairs]
    mins = [r.min_char_conf for r, _ in pairs]
    if name == "id_number":
        rd = _id_reading(joined, "vote", float(np.mean(means)), float(min(mins)), len(joined), (0, 0, 0, 0))
        rd.box = pairs[0][0].box
    else:
        d = v.make_date(int(joined[4:]), int(joined[2:4]), int(joined[:2]))
        if d is None:
            return
        rd = Reading(d.isoformat(), "vote", float(np.mean(means)), float(min(mins)), True, pairs[0][0].box)
    readings[name].append(rd)


def _cross_check_years(readings: dict[str, list[Reading]]) -> None:
    """The 12-digit number carries the birth year (century digit + two year digits): an OCR reading of the
    number that agrees with what the birth-date readings say counts for more in the number's vote, and a
    birth-date reading that agrees with the number's readings counts for more in the date's vote."""
    ids = [r for r in readings.get("id_number", []) if r.valid and re.fullmatch(r"\d{12}", str(r.value))]
    dobs = [r for r in readings.get("date_of_birth", []) if r.valid and _iso(r.value) is not None]
    if not ids or not dobs:
        return

    def id_year(r: Reading) -> int:
        info = v.decode_id12(str(r.value))
        return int(info["birth_year"]) if info else 0  # type: ignore[call-overload]

    def dob_year(r: Reading) -> int:
        d = _iso(r.value)
        return d.year if d else 0

    def top(rs: list[Reading], year: Callable[[Reading], int]) -> int:
        support: dict[int, float] = {}
        for r in rs:
            support[year(r)] = support.get(year(r), 0.0) + _VOTE[r.source] * r.extra.get("weight", 1.0)
        return max(support, key=lambda y: support[y])

    id_top, dob_top = top(ids, id_year), top(dobs, dob_year)
    for r in ids:
        if id_year(r) == dob_top:
            r.extra["weight"] = r.extra.get("weight", 1.0) * 1.5
    for r in dobs:
        if dob_year(r) == id_top:
            r.extra["weight"] = r.extra.get("weight", 1.0) * 1.5


@dataclass
class CardResult:
    fields: dict[str, FieldValue]
    warnings: list[str]
    # the evidence behind each field's confidence (the benchmark fits the calibration on it)
    features: dict[str, conf.Features] = field(default_factory=dict)


def _agree(a: object, b: object, name: str) -> bool:
    if a is None or b is None:
        return False
    if name == "full_name":
        return name_key(str(a)) == name_key(str(b))
    if name in ("place_of_residence", "place_of_origin", "place_of_birth"):
        return fuzz.ratio(_addr_cmp(str(a)), _addr_cmp(str(b))) >= 97
    return a == b


def _addr_cmp(s: str) -> str:
    return re.sub(r"[^\w]", "", clean(s).lower())


def extract_card(
    reader: Reader,
    img: np.ndarray,
    layout: TextPage,
    generation: str,
    side: str,
    *,
    qr: CccdQr | None = None,
    mrz: MrzResult | None = None,
    colour: np.ndarray | None = None,
    issuer_text: str | None = None,
) -> CardResult:
    """Fields of one card side (img: the greyscale OCR image the layout pass was run on; colour: BGR)."""
    printed = PRINTED.get((generation, side), PRINTED[("cccd_chip_2021", side)])
    readings: dict[str, list[Reading]] = {}
    warnings: list[str] = []
    for name in printed:
        readings[name] = _read_printed(reader, name, img, layout, generation, colour, issuer_text)
    machine_read = _machine_readable_fields(qr, mrz)
    missing = [
        n for n in printed if n in _SECOND_PASS and n not in machine_read and not _has_value(readings.get(n, []))
    ]
    if missing:
        # the layout pass lost a field (a faint label, a value merged into its label's line): a second
        # layout pass that takes the card as one block of text segments it differently
        block = reader.read(img, psm=6)
        for name in missing:
            again = _read_printed(reader, name, img, block, generation, colour, issuer_text)
            if _has_value(again):
                readings[name] = again
    _cross_check_years(readings)
    for name in ("id_number", "date_of_birth", "date_of_expiry", "issue_date"):
        _add_consensus(readings, name)
    if side == "front" and generation != "cmnd_9":
        # the 12-digit number encodes the sex: weak evidence (the number may be misread) but independent
        numbers = [r for r in readings.get("id_number", []) if r.valid and isinstance(r.value, str)]
        number = str(_vote(numbers, "id_number").value) if numbers else ""
        info = v.decode_id12(number)
        if info is not None and int(number[3]) <= 5:
            _add(readings, "sex", Reading(info["sex"], "id_number", 0.0, 0.0, valid=True))
    if qr is not None:
        _add(readings, "id_number", Reading(qr.id_number, "qr", 1.0, 1.0))
        if qr.old_id_number:
            _add(readings, "old_id_number", Reading(qr.old_id_number, "qr", 1.0, 1.0))
        _add(readings, "full_name", Reading(qr.full_name, "qr", 1.0, 1.0))
        if qr.date_of_birth:
            _add(readings, "date_of_birth", Reading(qr.date_of_birth.isoformat(), "qr", 1.0, 1.0))
        if qr.sex:
            _add(readings, "sex", Reading(qr.sex, "qr", 1.0, 1.0))
        _add(readings, "place_of_residence", Reading(qr.place_of_residence, "qr", 1.0, 1.0))
        if qr.issue_date:
            _add(readings, "issue_date", Reading(qr.issue_date.isoformat(), "qr", 1.0, 1.0))
    if mrz is not None and mrz.checks.get("composite") is not None:
        ok = mrz.valid
        if mrz.id_number and (ok or mrz.checks.get("personal_number")):
            _add(readings, "id_number", Reading(mrz.id_number, "mrz", 1.0 if ok else 0.6, valid=ok))
        if mrz.birth_date and (ok or mrz.checks.get("birth_date")):
            _add(readings, "date_of_birth", Reading(mrz.birth_date.isoformat(), "mrz", 1.0 if ok else 0.6, valid=ok))
        if mrz.sex:
            _add(readings, "sex", Reading(mrz.sex, "mrz", 1.0 if ok else 0.6, valid=ok))
        if ok or mrz.checks.get("expiry_date"):
            _add(
                readings,
                "date_of_expiry",
                Reading(mrz.expiry_date.isoformat() if mrz.expiry_date else None, "mrz", 1.0 if ok else 0.6, valid=ok),
            )
        readings["mrz"] = [Reading(mrz.lines, "mrz", 1.0 if ok else 0.5, valid=ok)]
        if mrz.full_name:
            readings["mrz_name"] = [Reading(mrz.full_name, "mrz", 1.0 if ok else 0.5, valid=ok)]
        if not ok:
            failed = sorted(k for k, passed in mrz.checks.items() if not passed)
            warnings.append(f"mrz_check_failed: {', '.join(failed) or 'ambiguous repair'}")
    if "issuer" in printed and not readings.get("issuer"):
        _add_issuer_rule(readings, generation)
    fields, features = _decide(readings, warnings)
    _validate(fields, features, warnings, generation)
    for name, f in features.items():
        f.typewriter = generation == "cmnd_9"
        if name in fields:
            fields[name].confidence = conf.score(f)
    if "place_of_residence" in fields and "place_of_residence_normalised" in fields:
        fields["place_of_residence_normalised"].confidence = fields["place_of_residence"].confidence
    fields["card_generation"] = FieldValue(value=generation, confidence=1.0, sources=["classify"])
    return CardResult(fields, warnings, features)


def _fix_address(text: str) -> str:
    """OCR punctuation noise in addresses: `;` for `,`, stray `:`, `TP:` for `TP.`, space before commas."""
    text = re.sub(r"\b(TP|Tp|TX|Tx|TT|P|Q|H|X)\s*[:;]", r"\1.", text)
    text = re.sub(r"\b(TP|TX|TT),(?=\s*[A-ZĐÀ-Ỹ])", r"\1.", text)  # `TP, Huế`: these never stand alone
    text = text.replace(";", ",").replace(":", "")
    # a digit stuck to the end of a word is a letter (`Trã1` → `Trãi`, `Hò0` → `Hòo`); house numbers stand alone
    text = re.sub(r"(?<=[^\W\d_]{2})1\b", "i", text)
    text = re.sub(r"(?<=[^\W\d_]{2})0\b", "o", text)
    text = re.sub(r"(?<=[^\W\d_])-(?=[^\W\d_])", " ", text)  # `Huyền-Trân`: no hyphens inside names
    text = re.sub(r"(?:(?<=\s)|^)[.'`’\"]+(?=\s|$)", "", text)  # stray dots and quotes between words
    # a dot after a word that is no abbreviation (`Thôn.`) is noise
    text = re.sub(r"\b(?!(?:TP|Tp|TX|Tx|TT|P|Q|H|X|Đ|K)\.)([^\W\d_]{2,})\.(?=\s)", r"\1", text)
    text = text.replace("⁄", "/").replace("∕", "/")  # fraction and division slashes for house numbers
    text = re.sub(r"(?<=\d)\.(?=\s)", "", text)  # `247/56. Ưng Bình`
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r",(?=\S)", ", ", text)
    return re.sub(r"\s+", " ", text).strip(" ,.-_'\"|")


def _add_issuer_rule(readings: dict[str, list[Reading]], generation: str) -> None:
    """The issuer a generation's cards carry when it could not be read (domain.md): the chip card's and the
    barcode card's from 10/2018 are the QLHC department's, the barcode card's before that the ĐKQL's, the
    2024 card's the Ministry's. Weak evidence (source "rule"), so a low confidence."""
    issued = next((r.value for r in readings.get("issue_date", []) if r.valid and r.value), None)
    if generation == "cancuoc_2024":
        issuer = ISSUERS[4]
    elif generation == "cccd_chip_2021":
        issuer = ISSUERS[0]
    elif generation == "cccd_barcode_2016" and issued:
        issuer = ISSUERS[0] if str(issued) >= "2018-10-01" else ISSUERS[1]
    else:
        return
    _add(readings, "issuer", Reading(issuer, "rule", 0.0, 0.0, valid=True))


def _clean_value(name: str, text: str) -> str:
    text = re.sub(r"^[^\w]+|[^\w.]+$", "", clean(text))
    if name in ("place_of_origin", "place_of_residence", "place_of_birth"):
        text = places.correct(_fix_address(text))
    if name == "nationality":
        # a split label's garbled tail may precede it (`Nauonalry Việt Nam`)
        key = name_key(text)
        if fuzz.ratio(key, "VIET NAM") >= 70 or re.search(r"\b\w?IET NAM\b", key):
            return "Việt Nam"
        return text
    return text


def _add(readings: dict[str, list[Reading]], name: str, r: Reading) -> None:
    readings.setdefault(name, []).append(r)


# which source wins a disagreement, strongest first
_PRIORITY = ("qr", "mrz", "lexicon", "ocr", "ocr_alt", "layout", "vote", "id_number", "rule")
# how much one source counts in a vote between disagreeing readings: a decoded QR or a verified MRZ
# outweighs any number of OCR readings; two OCR readings that agree outweigh one that differs
_VOTE = {
    "qr": 10.0,
    "mrz": 8.0,
    "lexicon": 1.0,
    "ocr": 1.0,
    "ocr_alt": 1.0,
    "layout": 1.0,
    "id_number": 1.5,
    "rule": 0.5,
    # the per-character majority of three or more disagreeing readings (see _consensus)
    "vote": 1.0,
}


def _vote(rs: list[Reading], name: str) -> Reading:
    support: list[tuple[float, int, Reading]] = []
    for r in rs:
        weight = sum(
            _VOTE[o.source] * (1.0 if o.valid else 0.5) * o.extra.get("weight", 1.0)
            for o in rs
            if _agree(o.value, r.value, name) or o is r
        )
        support.append((weight, -_PRIORITY.index(r.source), r))
    return max(support, key=lambda t: (t[0], t[1]))[2]


def _decide(
    readings: dict[str, list[Reading]], warnings: list[str]
) -> tuple[dict[str, FieldValue], dict[str, conf.Features]]:
    fields: dict[str, FieldValue] = {}
    features: dict[str, conf.Features] = {}
    for name, rs in readings.items():
        if name == "mrz_name":
            continue
        rs = [r for r in rs if r.value not in (None, "") or "no_expiry" in r.extra or r.source == "mrz"]
        if not rs:
            continue
        valid_rs = [r for r in rs if r.valid] or rs
        chosen = _vote(valid_rs, name)
        if name == "full_name":
            chosen = _choose_name(valid_rs, readings.get("mrz_name", []), warnings)
        agreeing = sorted(
            {r.source for r in rs if _agree(r.value, chosen.value, name) or (r.value is None and chosen.value is None)}
        )
        disagreeing = [
            r
            for r in rs
            if r.source in ("qr", "mrz", "ocr", "ocr_alt")
            and r.value is not None
            and not _agree(r.value, chosen.value, name)
            and r.valid
        ]
        for r in disagreeing:
            if r.source in ("qr", "mrz") or chosen.source in ("qr", "mrz"):
                warnings.append(str(v.disagreement(name, chosen.source, chosen.value, r.source, r.value)))
        feats = conf.Features(
            field=name,
            sources=agreeing,
            char_conf=max(
                (r.char_conf for r in rs if r.source in ("ocr", "ocr_alt", "lexicon")), default=chosen.char_conf
            ),
            min_char_conf=max(
                (r.min_char_conf for r in rs if r.source in ("ocr", "ocr_alt", "lexicon")), default=chosen.min_char_conf
            ),
            valid=chosen.valid,
            disagreements=len(disagreeing),
            lexicon_posterior=next((r.extra.get("posterior", 0.0) for r in rs if r.source == "lexicon"), None),
        )
        if name == "full_name":
            mrz_names = readings.get("mrz_name", [])
            if mrz_names and mrz_names[0].valid:
                feats.mrz_name_agrees = name_key(str(chosen.value)) == name_key(str(mrz_names[0].value))
        features[name] = feats
        fields[name] = FieldValue(
            value=chosen.value, confidence=0.0, box=chosen.box, sources=agreeing or [chosen.source]
        )
        if name == "place_of_residence" and chosen.value:
            fields["place_of_residence_normalised"] = FieldValue(
                value=expand_address(str(chosen.value)), confidence=0.0, sources=fields[name].sources
            )
    return fields, features


def _choose_name(rs: list[Reading], mrz_names: list[Reading], warnings: list[str]) -> Reading:
    by = {r.source: r for r in rs}
    if "qr" in by:
        return by["qr"]
    chosen = by.get("lexicon") or by.get("ocr") or by.get("layout") or rs[0]
    if mrz_names and mrz_names[0].valid:
        mrz_name = str(mrz_names[0].value)
        if name_key(str(chosen.value)) != name_key(mrz_name):
            # the letters disagree: a reading whose letters match the MRZ wins, else keep and warn
            for src in ("lexicon", "ocr", "layout"):
                r = by.get(src)
                if r is not None and name_key(str(r.value)) == name_key(mrz_name):
                    return r
            warnings.append(str(v.disagreement("full_name", chosen.source, chosen.value, "mrz", mrz_name)))
    return chosen


def _iso(value: object) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _validate(
    fields: dict[str, FieldValue], features: dict[str, conf.Features], warnings: list[str], generation: str
) -> None:
    idv = fields.get("id_number")
    dob = _iso(fields["date_of_birth"].value) if "date_of_birth" in fields else None
    sex = fields["sex"].value if "sex" in fields else None
    issues: list[v.Issue] = []
    if idv is not None and idv.value:
        if generation == "cmnd_9":
            issues += v.check_cmnd9(str(idv.value))
        else:
            issues += v.check_id12(str(idv.value), dob=dob, sex=sex if isinstance(sex, str) else None)
    issues += v.check_dates(dob)
    exp = fields.get("date_of_expiry")
    # the age rule is the CCCD's; a 12-digit CMND is valid 15 years from issue, a 9-digit one prints no expiry
    if exp is not None and dob is not None and not generation.startswith("cmnd"):
        issues += v.check_expiry(
            dob,
            _iso(exp.value),
            issue_date=_iso(fields["issue_date"].value) if "issue_date" in fields else None,
            no_expiry=exp.value is None,
        )
    for issue in issues:
        warnings.append(str(issue))
        for f in issue.fields:
            if f in features:
                if issue.severity == "error":
                    features[f].issue_errors += 1
                else:
                    features[f].issue_warnings += 1
