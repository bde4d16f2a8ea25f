"""Land-use-right certificates (GCN, "sổ đỏ"): page role, form, fields, owners, cross-checks, confidences.

Public API (called by the dispatcher in worker/extract/document.py; keep these signatures stable):

    extract_gcn(page, ocr=None, settings=None, *, doc_type=None) -> Document
        page      the NormalisedPage (colour `image` and greyscale `ocr_image`, same geometry or scaled)
        ocr       the dispatcher's full-page layout OCR of `page.ocr_image` (psm 3); None = run it here
        settings  Settings (tesseract language); None = get_settings()
        doc_type  the classifier's guess, used only when the page's own text does not settle the role
        Returns a Document with doc_type `gcn_page1` / `gcn_page2` / `gcn_other` (or `unknown`), `fields`
        (each a FieldValue with a calibrated confidence, the box it was read from and its sources), `owners`
        (page 1) and `warnings` (every failed cross-check, naming both values).
    extract_gcn_detailed(...) -> (Document, {field: Evidence})   the same plus the evidence behind each
        confidence, for the benchmark's calibration fit (`python -m bench gcn --fit`)
    detect_form(text) -> (form, confidence)       `gcn_pre2009` | `gcn_2009` | `gcn_2024_qr` | None
    cross_check_certificate(documents) -> None    page 1 vs page 2 of one certificate (form, QR vs print)

Forms (ids shared with the generator's truth): `gcn_pre2009` (1993/2003 red certificates: `I- Tên người sử
dụng đất`, `II- Thửa đất được quyền sử dụng`), `gcn_2009` (four-page form of Circulars 17/2009 and 23/2014),
`gcn_2024_qr` (Circular 10/2024: QR, 12-character certificate code, owners and parcel on page 1). The form is
recorded in the field `certificate_form`. A scan of the open A3 sheet is split into pages by worker/imaging.

Fields. Page 1: `certificate_serial`, `certificate_form`, owners (`full_name`, `birth_year`, `id_number`,
`id_type` CMND/CCCD/other, `address`, `relationship` as printed: Ông, Bà, Hộ ông(bà), Và vợ ...). Page 2 (and
page 1 of the 2024 form): `parcel_number`, `map_sheet_number`, `parcel_address`, `area_m2`, `area_in_words`,
`land_use_form`, `land_use_purpose`, `land_use_code` (`ODT`, `ONT+CLN`, ...), `land_use_term`,
`land_use_origin`, `registry_number`, `issue_date` (ISO), `issuing_authority`; 2024 form: `certificate_code`,
`qr_payload`. Other pages: `changes` (rows recorded under `IV. Những thay đổi ...`), `certificate_code`,
`parcel_number`/`area_m2` from the sketch's label, `barcode` (+ `barcode_commune_code`, `barcode_issue_year`).

How a page is read: red seals are found by colour and the lines under them read again with the red dropped
(red channel, levels stretched); the layout OCR is regrouped into visual lines and searched with label
patterns on a diacritic-folded copy of the text (OCR tone errors do not break labels); values are sliced
from the original text between a label and the next label, so values wrapping onto a second line are whole.
When the layout pass loses a page's labels (photocopy speckle, a grey seal) the page is read once more,
contrast-stretched; when it loses lines of one section, that section is read again as a block. The fields
the registry keys on are re-read from their own region (digits whitelist, upscaled; red ink on the green
channel); a disagreement is settled by a third reading from the `eng` model, and the serial is voted on by
four readings. Names go through the stage's name lexicon, addresses through its place gazetteer and the
Huế street list here (whole multi-word names only). Cross-checks: area digits vs area in words
(numwords.py), the sum of the purpose areas vs the total, the QR payload vs the print (2024), serial format
per form, owner 12-digit ID vs birth year and the sex implied by Ông/Bà, the issue date vs the form's years
in force. Entries written in by hand (ballpoint ink on a colour scan) are flagged and capped at
HANDWRITTEN_CAP instead of trusting a print-trained recogniser.

Confidence: a logistic model per field family over the evidence (OCR confidence, format validity, readings
that agree or disagree, cross-checks, repairs), fitted on generated certificates by `python -m bench gcn
--fit` (regularised towards hand-set weights) and stored in gcn_confidence.json beside this module; without
the file the hand-set weights apply.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rapidfuzz import fuzz

from models.document import Document, FieldValue
from models.elements import Line, TextPage
from models.pages import NormalisedPage
from models.settings import Settings, get_settings
from worker.extract.numwords import repair_token, words_value
from worker.ocr import Reader, TesseractReader, decode_codes
from worker.raster import components, percentile_u8
from worker.vntext import clean, name_key, strip_diacritics

__all__ = [
    "GCN_FORMS",
    "LAND_USE_CODES",
    "Evidence",
    "canonical_address",
    "canonical_number_words",
    "cross_check_certificate",
    "detect_form",
    "extract_gcn",
    "extract_gcn_detailed",
    "parse_area",
]

GCN_FORMS: tuple[str, ...] = ("gcn_pre2009", "gcn_2009", "gcn_2024_qr")

# years each form was issued in (the 2009 form from Decree 88/2009 in force 10/12/2009; Circular 10/2024's
# form from 01/08/2024); an issue date outside them is a warning, not a rejection (late printing happens)
FORM_YEARS: dict[str, tuple[date, date]] = {
    "gcn_pre2009": (date(1988, 1, 1), date(2009, 12, 9)),
    "gcn_2009": (date(2009, 12, 10), date(2024, 7, 31)),
    "gcn_2024_qr": (date(2024, 8, 1), date(2100, 1, 1)),
}

# land-use codes and their legal names (both spellings of "hàng/hằng năm" occur across law versions)
LAND_USE_CODES: dict[str, tuple[str, ...]] = {
    "ODT": ("Đất ở tại đô thị",),
    "ONT": ("Đất ở tại nông thôn",),
    "CLN": ("Đất trồng cây lâu năm",),
    "LUC": ("Đất chuyên trồng lúa nước",),
    "LUK": ("Đất trồng lúa nước còn lại",),
    "LUN": ("Đất lúa nương",),
    "HNK": ("Đất trồng cây hằng năm khác", "Đất trồng cây hàng năm khác"),
    "BHK": ("Đất bằng trồng cây hằng năm khác", "Đất bằng trồng cây hàng năm khác"),
    "NHK": ("Đất nương rẫy trồng cây hằng năm khác", "Đất nương rẫy trồng cây hàng năm khác"),
    "RSX": ("Đất rừng sản xuất",),
    "RPH": ("Đất rừng phòng hộ",),
    "RDD": ("Đất rừng đặc dụng",),
    "NTS": ("Đất nuôi trồng thủy sản",),
    "NKH": ("Đất nông nghiệp khác",),
    "SKC": ("Đất cơ sở sản xuất phi nông nghiệp", "Đất cơ sở sản xuất, kinh doanh"),
    "TMD": ("Đất thương mại, dịch vụ",),
    "DGT": ("Đất giao thông",),
    "DTL": ("Đất thủy lợi",),
    "NTD": ("Đất nghĩa trang, nghĩa địa, nhà tang lễ, nhà hỏa táng", "Đất nghĩa trang, nghĩa địa"),
    "TON": ("Đất cơ sở tôn giáo",),
    "TIN": ("Đất cơ sở tín ngưỡng",),
}

# issuing bodies for Huế (public names); OCR of the block under the seal is snapped to the nearest one
AUTHORITIES: tuple[str, ...] = (
    "ỦY BAN NHÂN DÂN TỈNH THỪA THIÊN HUẾ",
    "ỦY BAN NHÂN DÂN THÀNH PHỐ HUẾ",
    "ỦY BAN NHÂN DÂN THỊ XÃ HƯƠNG THỦY",
    "ỦY BAN NHÂN DÂN THỊ XÃ HƯƠNG TRÀ",
    "ỦY BAN NHÂN DÂN HUYỆN PHÚ VANG",
    "ỦY BAN NHÂN DÂN HUYỆN PHÚ LỘC",
    "ỦY BAN NHÂN DÂN HUYỆN QUẢNG ĐIỀN",
    "ỦY BAN NHÂN DÂN HUYỆN PHONG ĐIỀN",
    "ỦY BAN NHÂN DÂN HUYỆN A LƯỚI",
    "ỦY BAN NHÂN DÂN HUYỆN NAM ĐÔNG",
    "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG TỈNH THỪA THIÊN HUẾ",
    "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG THÀNH PHỐ HUẾ",
    "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG THÀNH PHỐ HUẾ",
)

# serial formats per form (domain.md): 1993 one letter + 6 digits, 2003 two letters + 6, 2009 two + 6,
# 2024 two + 8
SERIAL_FORMATS: dict[str, re.Pattern[str]] = {
    "gcn_pre2009": re.compile(r"[A-Z]{1,2} \d{6}|[A-Z]\d{6}"),
    "gcn_2009": re.compile(r"[A-Z]{2} \d{6}"),
    "gcn_2024_qr": re.compile(r"[A-Z]{2} \d{8}"),
}

_DIGIT_FIX = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "i": "1", "|": "1",
                            "!": "1", "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8", "G": "6", "g": "9",
                            "T": "7"})  # fmt: skip
_ALPHA_FIX = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"})
DIGITS = "0123456789"
SERIAL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "


@cache
def _sibling(name: str) -> Any:
    """A helper module of this stage that the ID-card extractor provides (name lexicon, place gazetteer);
    None when it is absent, so certificates still read, only without that correction."""
    try:
        return importlib.import_module(f"worker.extract.{name}")
    except ImportError:  # pragma: no cover
        return None


# --- text with positions ------------------------------------------------------------------------------


@cache
def _fold_char(ch: str) -> str:
    """One character, diacritics stripped and lower-cased, always exactly one character long."""
    s = strip_diacritics(ch).lower()
    return s[0] if s else ch


@dataclass
class _Word:
    text: str
    conf: float
    box: tuple[int, int, int, int]


@dataclass
class _Line:
    words: list[_Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return _union([w.box for w in self.words])


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    if not boxes:
        return (0, 0, 0, 0)
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def _visual_lines(ocr: TextPage) -> list[_Line]:
    """Tesseract's lines regrouped into visual lines: one printed line split into blocks becomes one."""
    items = []
    for line in ocr.lines:
        words = [_Word(clean(w.text), w.confidence, tuple(w.box)) for w in line.words if clean(w.text)]  # type: ignore[arg-type]
        if words:
            items.append(_Line(words))
    items.sort(key=lambda ln: ln.box[1] + ln.box[3] / 2)
    merged: list[_Line] = []
    for item in items:
        x, y, w, h = item.box
        cy = y + h / 2
        target = None
        for cand in reversed(merged[-4:]):
            cx, cy0, cw, ch = cand.box
            if abs((cy0 + ch / 2) - cy) < 0.45 * max(h, ch) and (x >= cx + cw - 2 or x + w <= cx + 2):
                target = cand
                break
        if target is None:
            merged.append(_Line(list(item.words)))
        else:
            target.words = sorted(target.words + item.words, key=lambda wd: wd.box[0])
    merged.sort(key=lambda ln: ln.box[1])
    return merged


class _Text:
    """The page's visual lines joined with newlines, a same-length folded copy, and char → word index."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        parts: list[str] = []
        self.char_word: list[int] = []
        self.words: list[_Word] = []
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
        self.fold = "".join(_fold_char(c) for c in self.raw)

    def span_words(self, start: int, end: int) -> list[_Word]:
        idx = sorted({i for i in self.char_word[max(0, start) : max(0, end)] if i >= 0})
        return [self.words[i] for i in idx]

    def stats(self, start: int, end: int) -> tuple[float, float]:
        ws = self.span_words(start, end)
        if not ws:
            return 0.0, 0.0
        confs = [w.conf for w in ws]
        return float(np.mean(confs)), float(min(confs))

    def box(self, start: int, end: int) -> tuple[int, int, int, int] | None:
        ws = self.span_words(start, end)
        return _union([w.box for w in ws]) if ws else None

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
        return _union(boxes) if boxes else None

    def line_index(self, pos: int) -> int:
        return self.fold.count("\n", 0, max(0, pos))

    def line_start(self, index: int) -> int:
        pos = 0
        for _ in range(index):
            pos = self.fold.index("\n", pos) + 1
        return pos


# --- evidence and confidence ----------------------------------------------------------------------------


@dataclass
class Evidence:
    """What supports one field value; the confidence model's input."""

    name: str
    value: Any
    box: tuple[int, int, int, int] | None = None
    sources: list[str] = field(default_factory=list)
    ocr_conf: float = 0.0
    min_conf: float = 0.0
    valid: bool = True
    agree: int = 0  # further independent readings that gave the same value
    disagree: int = 0  # readings that gave another value
    check: int = 0  # +1 a cross-check confirmed the value, -1 one contradicted it
    repaired: bool = False  # characters were mapped (O→0, ...) or a lexicon changed the reading
    handwritten: bool = False  # written in by hand (pen ink): flagged for review, never trusted

    def vector(self) -> list[float]:
        return [
            1.0,
            self.ocr_conf,
            self.min_conf,
            float(self.valid),
            float(min(self.agree, 3)),
            float(min(self.disagree, 3)),
            float(self.check > 0),
            float(self.check < 0),
            float(self.repaired),
        ]


FEATURE_NAMES = ("bias", "ocr_conf", "min_conf", "valid", "agree", "disagree", "check_ok", "check_bad", "repaired")

FAMILIES: dict[str, str] = {
    "certificate_serial": "number",
    "parcel_number": "number",
    "map_sheet_number": "number",
    "registry_number": "number",
    "certificate_code": "number",
    "owner.id_number": "number",
    "owner.birth_year": "number",
    "area_m2": "area",
    "area_in_words": "text",
    "owner.full_name": "name",
    "issue_date": "date",
    "certificate_form": "form",
    "land_use_code": "form",
    "owner.id_type": "form",
    "owner.relationship": "form",
    "qr_payload": "code",
    "barcode": "code",
    "barcode_commune_code": "code",
    "barcode_issue_year": "code",
}
_DEFAULT_WEIGHTS: dict[str, list[float]] = {
    "number": [-3.0, 3.5, 1.5, 1.5, 1.8, -1.8, 1.5, -2.5, -0.7],
    "area": [-3.0, 3.5, 1.0, 1.0, 1.5, -2.0, 2.0, -2.5, -0.7],
    "name": [-2.5, 3.0, 1.5, 1.0, 1.2, -1.5, 1.0, -1.5, -0.3],
    "text": [-2.5, 4.0, 1.0, 1.0, 1.0, -1.5, 1.0, -1.5, -0.3],
    "date": [-2.5, 3.5, 1.0, 1.5, 1.5, -1.5, 1.0, -2.0, -0.5],
    "form": [-1.0, 2.0, 1.0, 1.5, 1.5, -1.5, 1.0, -1.5, -0.5],
    "code": [4.0, 0.0, 0.0, 0.0, 0.0, -2.0, 1.0, -2.0, 0.0],
    "other": [-2.5, 3.5, 1.0, 1.0, 1.0, -1.5, 1.0, -1.5, -0.3],
}
MODEL_PATH = Path(__file__).with_name("gcn_confidence.json")


def family_of(name: str) -> str:
    return FAMILIES.get(name, "other")


@cache
def _weights() -> dict[str, list[float]]:
    weights = dict(_DEFAULT_WEIGHTS)
    if MODEL_PATH.is_file():
        stored = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
        for fam, w in stored.get("weights", {}).items():
            if len(w) == len(FEATURE_NAMES):
                weights[fam] = [float(x) for x in w]
    return weights


# a handwritten entry is read by a model trained on print: whatever the evidence says, it goes to a person
HANDWRITTEN_CAP = 0.3


def confidence_of(ev: Evidence, name: str | None = None) -> float:
    w = _weights().get(family_of(name or ev.name), _weights()["other"])
    z = sum(a * b for a, b in zip(w, ev.vector(), strict=True))
    p = min(0.995, max(0.005, 1.0 / (1.0 + math.exp(-z))))
    if ev.handwritten:
        p = min(p, HANDWRITTEN_CAP)
    return round(p, 4)


def _fv(ev: Evidence, name: str | None = None) -> FieldValue:
    return FieldValue(
        value=ev.value,
        confidence=confidence_of(ev, name),
        box=list(ev.box) if ev.box else None,
        sources=sorted(set(ev.sources)),
    )


# --- small parsers --------------------------------------------------------------------------------------


def _to_int(token: str) -> tuple[int | None, bool]:
    """Leading integer of a token, mapping digit look-alikes (O→0, l→1); (value, repaired?)."""
    m = re.match(r"\s*([0-9OoDQIli|!ZSsBG]{1,6})", token)
    if not m:
        return None, False
    raw = m.group(1)
    if not any(c.isdigit() for c in raw):
        return None, False  # a word, not a number with a misread digit
    fixed = raw.translate(_DIGIT_FIX)
    if not fixed.isdigit():
        return None, False
    return int(fixed), fixed != raw


_AREA_NUM = re.compile(r"([0-9OoIl][0-9OoIl.,\s]*[0-9OoIl]|[0-9])\s*(?:m\s*[2²zZ]|m\b|mét)")


def parse_area(text: str) -> tuple[Decimal | None, bool]:
    """`125,4 m²` → 125.4; `1.234,5 m²` → 1234.5 (decimal comma, dot thousands). (value, ambiguous?)"""
    m = _AREA_NUM.search(text)
    raw = m.group(1) if m else None
    if raw is None:
        m2 = re.search(r"\d[\d.,]*", text)
        if not m2:
            return None, False
        raw = m2.group(0)
    s = re.sub(r"\s+", "", raw).translate(_DIGIT_FIX).rstrip(".,")
    ambiguous = False
    if "," in s:
        whole, _, frac = s.rpartition(",")
        whole = whole.replace(".", "").replace(",", "")
    elif "." in s:
        whole, _, frac = s.rpartition(".")
        if len(frac) == 3 and whole:
            # `1.234` is a thousands separator in Vietnamese print; `96.3` a comma misread as a dot
            whole, frac, ambiguous = whole + frac, "", True
        whole = whole.replace(".", "")
    else:
        whole, frac = s, ""
    try:
        value = Decimal(f"{int(whole or '0')}.{frac or '0'}")
    except (ValueError, InvalidOperation):
        return None, False
    return value, ambiguous


def _fmt_area(value: Decimal | float) -> str:
    d = Decimal(str(value)).quantize(Decimal("0.1"))
    whole, frac = f"{d:f}".split(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{grouped},{frac}"


def _plain_number(d: Decimal) -> float:
    return float(d)


_NUMBER_WORD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "khong": ("không",), "mot": ("một", "mốt"), "hai": ("hai",), "ba": ("ba",), "bon": ("bốn",), "tu": ("tư",),
    "nam": ("năm",), "lam": ("lăm",), "nham": ("nhăm",), "sau": ("sáu",), "bay": ("bảy", "bẩy"), "tam": ("tám",),
    "chin": ("chín",), "muoi": ("mười", "mươi"), "tram": ("trăm",), "linh": ("linh",), "le": ("lẻ",),
    "nghin": ("nghìn",), "ngan": ("ngàn",), "trieu": ("triệu",), "ty": ("tỷ",), "phay": ("phẩy",),
    "met": ("mét",), "vuong": ("vuông",), "chan": ("chẵn",),
}  # fmt: skip
_DIGIT_KEYS = {"khong", "mot", "hai", "ba", "bon", "tu", "nam", "lam", "nham", "sau", "bay", "tam", "chin"}


def canonical_number_words(text: str) -> str:
    """Respell OCR'd number words (tone marks lost or swapped) as printed: `Chin muoi sau` → `Chín mươi sáu`.

    A word already spelled validly is kept (`bẩy`, `một` after mươi); position decides mười vs mươi."""
    out: list[str] = []
    prev_key = ""
    for word in text.split():
        core = re.sub(r"[^\w]", "", word)
        key = repair_token(name_key(core).lower())
        spellings = _NUMBER_WORD_SPELLINGS.get(key)
        if not spellings:
            out.append(word)
            prev_key = key
            continue
        lower = clean(core).lower()
        if lower in spellings:
            best = lower
        elif key == "muoi":
            best = "mươi" if prev_key in _DIGIT_KEYS - {"khong"} else "mười"
        elif key == "mot":
            best = "mốt" if prev_key == "muoi" and len(out) >= 2 and out[-1] == "mươi" else "một"
        else:
            best = spellings[0]
        if core[:1].isupper():
            best = best[:1].upper() + best[1:]
        out.append(word.replace(core, best))
        prev_key = key
    return " ".join(out)


def _year_ok(year: int | None) -> bool:
    return year is not None and 1880 <= year <= date.today().year


# --- label patterns (on folded text) --------------------------------------------------------------------

_SEP = r"\s*[:;.,]?\s*"
# an item marker before a label: `a) `, `đ) `, `4. `, `b. `; read as `4:` or `c;` only at a line start, where
# it cannot be the end of the previous value (`Thửa đất số: 36; tờ bản đồ số`)
_ITEM = r"(?:(?<![\w])(?:[a-hø]|\d{1,2})\s*[).]\s*|(?<![^\n])[ \t]*(?:[a-hø]|\d{1,2})\s*[:;]\s*)?"

_P2_LABELS: dict[str, str] = {
    "parcel_number": r"thua\s*(?:dat\s*)?so",
    "map_sheet_number": r"to\s*ban\s*do\s*so",
    "parcel_address": r"dia\s*chi(?:\s*thu[a-z]?\s*d[a-z]{1,3})?(?!\s*thuong)",
    "area_m2": r"dien\s*tich",
    "area_in_words": r"bang\s*chu",
    "land_use_form": r"hinh\s*thuc\s*su\s*dung",
    "land_use_purpose": r"(?:muc\s*dich\s*su\s*dung|loai\s*dat)",
    "land_use_term": r"thoi\s*han\s*su\s*dung",
    "land_use_origin": r"nguon\s*goc\s*su\s*dung",
}
_P2_PATTERNS = {k: re.compile(_ITEM + v + _SEP) for k, v in _P2_LABELS.items()}
# section labels that end the value before them; anchored at a line start so purpose text like
# `Đất trồng cây lâu năm: 50 m²` never reads as the `5. Cây lâu năm:` section
_STOPS = [
    re.compile(r"(?m)^\s*(?:\d\s*[.):;]\s*)?(?:nha\s*o|cong\s*trinh\s*xay\s*dung|rung\s*san\s*xuat|cay\s*lau\s*nam"
               r"|ghi\s*chu|thong\s*tin\s*tai\s*san|so\s*do\s*thua\s*dat|nhung\s*thay\s*doi)[^\n]{0,30}?[:;]"),
    re.compile(r"(?<![\w])\d\s*[.):;]\s*(?:thong\s*tin\s*tai\s*san|ghi\s*chu|nha\s*o\s*:|cong\s*trinh\s*xay\s*dung)"),
    re.compile(r"(?m)^[^\n]*\bngay\s*\d{1,2}\s*thang\s*\d{1,2}\s*nam\s*\d{4}"),
    re.compile(r"(?m)^[^\n]{0,30}\bng[a-z]{1,3}\s*\S{1,3}\s*th[a-z]{2,4}\s*\S{1,3}\s*n[a-z]{1,3}\s*\S{3,6}\s*$"),
    re.compile(r"so\s*vao\s*so|vao\s*so\s*cap"),
    # the signing body's lines (a value never runs into them, even when the date line above was lost)
    re.compile(r"(?m)^\s*(?:tm|kt|tl|tuq)\s*[.,]\s*[^\n]{0,4}(?:uy\s*ban|chu\s*tich|giam\s*doc|so\s)"),
    re.compile(r"(?m)^\s*(?:so\s*tai\s*nguyen|so\s*nong\s*nghiep|uy\s*ban\s*nhan\s*dan)"),
    # any new numbered section at a line start (`3. Thông tin tài sản` however badly read)
    re.compile(r"(?m)^[ \t]*\d\s*[.)]\s+(?=[^\W\d_])"),
    re.compile(r"(?m)^\s*(?:\d\s*[.)]\s*)?thong\s*tin\s*thua\s*dat"),
    re.compile(r"(?m)^\s*(?:ii|i1|il|11)\s*[.\-]"),
]  # fmt: skip
_DATE_LINE = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")
# the same line when italics and a seal garbled it (`Tiue, ngay Ở thang 3 nam ZUU.Š`)
_DATE_LOOSE = re.compile(r"\bng[a-z]{1,3}\s*(\S{1,3})\s*th[a-z]{2,4}\s*(\S{1,3})\s*n[a-z]{1,3}\s*(\S{3,6})")
_REGISTRY = re.compile(
    r"(?:so\s*vao\s*so\s*cap\s*(?:gcn|giay\s*chung\s*nhan)|vao\s*so\s*cap\s*giay\s*chung\s*nhan\s*(?:qsdd?|quyen\s*su\s*dung\s*dat)?\s*so)"
    + _SEP
)
_OWNER_SECTION = re.compile(r"(?:ten\s*)?nguoi\s*su\s*dung\s*dat[^\n]*")
_OWNER_START = re.compile(
    r"(?m)^[ \t]*(?:[-•]\s*)?"
    r"(?P<title>ho\s*ong\s*\(?\s*ba\s*\)?|ho\s*(?:gia\s*dinh\s*)?(?:ong|ba)|va\s*(?:vo|chong)\s*(?:la\s*)?(?:ong|ba)?"
    r"|va\s*(?:ong|ba)|ong\s*\(\s*ba\s*\)|ong|ba)\s*[:;.]"
)
_OWNER_START_LOOSE = re.compile(
    r"(?m)^[ \t]*(?P<title>[^\W\d_]{1,4})(?=\s*[:;.]?\s+[^\n]*(?:cccd|cmnd|cmt|sinh\s*nam|nam\s*sinh|\d{9}))\s*[:;.]?"
)
# the pre-2009 form's co-owner line with its title misread (`3a: Đồ Thị Nga` for `Bà: Đỗ Thị Nga`): a short
# word and a colon, the name in title case, and `Năm sinh` opening the next line
_OWNER_START_PRE = re.compile(r"(?m)^[ \t]*(?P<title>[^\W_]{1,4})\s*[:;.](?=[^\n]*\n[ \t]*nam\s*sinh)")
_TITLE_CASE_NAME = re.compile(r"\s*(?:[A-ZĐÀ-Ỹ][^\W\d_]*\s+){1,5}[A-ZĐÀ-Ỹ][^\W\d_]*\s*$", re.MULTILINE)
_BIRTH = re.compile(r"(?:sinh\s*nam|nam\s*sinh)\s*[:;.]?\s*(?P<y>[0-9oil|]{4})")
_ID = re.compile(
    r"(?P<label>(?:so\s*)?(?:cmnd|cmt|cccd|can\s*cuoc(?:\s*cong\s*dan)?|so\s*dinh\s*danh(?:\s*ca\s*nhan)?|ho\s*chieu"
    r"|giay\s*to\s*tuy\s*than))\s*(?:so)?\s*[:;.]?\s*(?P<num>[0-9oil|][0-9oil| ]{6,16}[0-9oil|]|-\s*/\s*-)"
)
# an ID number whose label OCR garbled (`ŒCŒCD số: 046...`): a 9- or 12-digit run on its own
_BARE_ID = re.compile(
    r"(?P<label>[^\s\d]{0,8}\s*(?:so)?\s*[:;.]?)\s*(?P<num>(?<![\d])(?:\d[\d ]{10,13}\d|\d{9})(?![\d]))"
)
_ADDRESS = re.compile(r"dia\s*chi(?:\s*thuong\s*tru)?" + _SEP)
_OWNERS_END = re.compile(r"(?m)thong\s*tin\s*thua\s*dat|^\s*(?:ii|i1|il|11)\s*[.\-]\s*thua")
_CHANGES = re.compile(r"nhung\s*thay\s*doi[^\n]*")
# letters, then 6 or 8 digits whose first is a real digit (`CS23346` is a registry number, not C + S2334 6)
_SERIAL_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2})\s?([0-9][0-9OIlSB]{5}(?:[0-9OIlSB]{2})?)(?![0-9A-Za-z])")
_SERIAL_GAP_RE = re.compile(r"(?<![A-Z0-9])([A-Z]{2})[LI|]([0-9]{6}(?:[0-9]{2})?)(?![0-9])")
_CODE_RE = re.compile(r"(?<![0-9A-Za-z])([0-9A-Z]{12})(?![0-9A-Za-z])")

_FORM_MARKERS: dict[str, tuple[tuple[str, float], ...]] = {
    "gcn_2024_qr": (
        (r"thong\s*tin\s*thua\s*dat", 3.0),
        (r"loai\s*dat\s*:", 2.0),
        (r"chu\s*so\s*huu\s*tai\s*san\s*gan\s*lien", 2.0),
        (r"ma\s*giay\s*chung\s*nhan", 2.5),
        (r"thong\s*tin\s*tai\s*san", 1.5),
        (r"(?m)^\s*5\s*[.)]?\s*so\s*do\s*thua\s*dat", 2.0),
        (r"(?m)^\s*6\s*[.)]?\s*nhung\s*thay\s*doi", 2.0),
        (r"\([a-z]{3}\)\s*:", 1.5),
    ),
    "gcn_pre2009": (
        (r"ten\s*nguoi\s*su\s*dung\s*dat", 3.0),
        (r"thua\s*dat\s*duoc\s*quyen\s*su\s*dung", 3.0),
        (r"ho\s*ong\s*\(\s*ba\s*\)", 2.0),
        (r"thua\s*so\s*:", 1.5),
        (r"qsdd?\s*/", 2.0),
        (r"vao\s*so\s*cap\s*giay\s*chung\s*nhan", 1.5),
        (r"(?m)^\s*i\s*-\s*ten", 1.0),
        (r"so\s*cmnd\s*:", 1.0),
    ),
    "gcn_2009": (
        (r"quyen\s*so\s*huu\s*nha\s*o", 2.5),
        (r"nha\s*o\s*va\s*tai\s*san\s*khac\s*gan\s*lien", 2.5),
        (r"(?m)^\s*iii\s*[.\-]?\s*so\s*do", 2.0),
        (r"(?m)^\s*iv\s*[.\-]?\s*nhung\s*thay\s*doi", 2.0),
        (r"(?m)^\s*2\s*[.)]\s*nha\s*o", 1.5),
        (r"rung\s*san\s*xuat\s*la\s*rung\s*trong", 1.5),
        (r"mau\s*gcn", 1.0),
        (r"(?m)^\s*[a-gø]\s*\)\s*(?:thua\s*dat|dia\s*chi|dien\s*tich)", 1.0),
    ),
}
_FORM_PATTERNS = {f: [(re.compile(p), w) for p, w in ms] for f, ms in _FORM_MARKERS.items()}


def detect_form(text: str) -> tuple[str | None, float]:
    """Which certificate form printed this page: (form id or None, confidence 0..1), from label evidence."""
    folded = "".join(_fold_char(c) for c in clean(text).replace("\r", ""))
    scores = {f: sum(w for p, w in pats if p.search(folded)) for f, pats in _FORM_PATTERNS.items()}
    if re.search(r"(?<![a-z0-9])[a-z]{2}\s?\d{8}(?!\d)", folded):
        scores["gcn_2024_qr"] += 1.5
    best = max(scores, key=lambda f: scores[f])
    if scores[best] <= 0:
        return None, 0.0
    runner = max(v for f, v in scores.items() if f != best)
    margin = (scores[best] - runner) / scores[best]
    return best, round(min(0.99, 0.5 + 0.5 * margin * min(1.0, scores[best] / 4.0)), 3)


def _page_role(t: _Text, hint: str | None) -> tuple[str, float]:
    f = t.fold
    p1 = 0.0
    p2 = 0.0
    other = 0.0
    if _OWNER_SECTION.search(f):
        p1 += 3.0
    if _OWNER_START.search(f):
        p1 += 1.0
    if re.search(r"giay\s*chung\s*nhan\s*\n?\s*quyen\s*su\s*dung\s*dat", f):
        p1 += 1.0
    if _P2_PATTERNS["parcel_number"].search(f) or _P2_PATTERNS["map_sheet_number"].search(f):
        p2 += 2.0
    if _P2_PATTERNS["area_m2"].search(f):
        p2 += 1.0
    if _P2_PATTERNS["land_use_purpose"].search(f):
        p2 += 1.0
    if re.search(r"so\s*do\s*thua\s*dat", f):
        other += 2.5
    if _CHANGES.search(f):
        other += 2.5
    if p1 >= 3.0:
        # page 1 of the 2024 form also holds the parcel: owners decide the role
        return "gcn_page1", min(0.99, 0.6 + 0.08 * (p1 + p2))
    if p2 >= 3.0 and p2 >= other:
        return "gcn_page2", min(0.99, 0.55 + 0.1 * p2 - 0.05 * other)
    if other >= 2.5:
        return "gcn_other", min(0.95, 0.5 + 0.1 * other)
    if hint in ("gcn_page1", "gcn_page2", "gcn_other"):
        return hint, 0.3
    if p2 > 0:
        return "gcn_page2", 0.3
    return "unknown", 0.0


# --- region re-reading ----------------------------------------------------------------------------------


def ink_tint(bgr: np.ndarray) -> tuple[float, float]:
    """Median blue-minus-red and blue-minus-green of the dark (ink) pixels of a crop. Red print (the title,
    the serial, seals) is left out: on a red certificate it would outvote the black print and make plain
    black look blue by comparison."""
    # uint8 channel ops (a saturating difference is > t exactly when the signed one is): 5x cheaper than
    # widening the whole crop, and this runs on every text line of a page
    if bgr.size == 0:  # a box at the page's edge can crop to nothing (cv2.split has no channels to give)
        return 0.0, 0.0
    b, g, r = cv2.split(bgr)
    ink = (cv2.min(cv2.min(b, g), r) < 150) & ~((cv2.subtract(r, g) > 40) & (cv2.subtract(r, b) > 30))
    if int(np.count_nonzero(ink)) < 25:
        return 0.0, 0.0
    bi = b[ink].astype(np.int16)
    return float(np.median(bi - r[ink])), float(np.median(bi - g[ink]))


def pen_ink_fraction(bgr: np.ndarray, baseline: tuple[float, float] = (0.0, 0.0)) -> float:
    """Share of the ink in a crop that is blue/violet ballpoint rather than the page's print (`baseline`:
    the print's own tint, so a photo's colour cast is not taken for pen) or a red seal."""
    if bgr.size == 0:
        return 0.0
    b, g, r = cv2.split(bgr)
    ink = cv2.min(cv2.min(b, g), r) < 150
    n = int(np.count_nonzero(ink))
    if n < 25:
        return 0.0
    bi = b.astype(np.int16)
    blue = ink & (bi - r > baseline[0] + 35) & (bi - g > baseline[1] + 15)
    return float(np.count_nonzero(blue)) / n


def red_dropout(bgr: np.ndarray) -> np.ndarray:
    """Greyscale with red ink removed: the red channel, levels stretched so that the seal's red (bright
    on that channel, but not white) becomes paper while black print stays black."""
    # uint8 channels and a lookup table: the same result as widening the crop, without the int16 and float64
    # copies (a band across a page reached 100 MB of temporaries)
    if bgr.size == 0:
        return bgr[:, :, 2].copy()
    b, g, r = cv2.split(bgr)
    red = (cv2.subtract(r, g) > 60) & (cv2.subtract(r, b) > 50)
    if int(np.count_nonzero(red)) < 50:
        return r
    white = percentile_u8(r[red], 50) - 20.0
    black = percentile_u8(r, 1.0)
    if white - black < 40:
        return r
    lut = np.clip((np.arange(256, dtype=np.int16) - black) * (255.0 / (white - black)), 0, 255).astype(np.uint8)
    return cv2.LUT(r, lut)


@dataclass
class _Page:
    """The images a field is re-read from, with the factor from layout-OCR coordinates to colour pixels."""

    colour: np.ndarray | None
    grey: np.ndarray
    fx: float
    fy: float
    reader: Reader

    @classmethod
    def of(cls, page: NormalisedPage, reader: Reader) -> _Page:
        grey = page.ocr_image if page.ocr_image.ndim == 2 else cv2.cvtColor(page.ocr_image, cv2.COLOR_BGR2GRAY)
        colour = page.image if page.image is not None and page.image.ndim == 3 else None
        fx = fy = 1.0
        if colour is not None:
            fy = colour.shape[0] / grey.shape[0]
            fx = colour.shape[1] / grey.shape[1]
        return cls(colour, grey, fx, fy, reader)

    def crop(self, box: tuple[int, int, int, int], ink: str = "black", pad: float = 0.35) -> np.ndarray:
        x, y, w, h = box
        px, py = int(h * pad) + 4, int(h * pad) + 2
        if self.colour is not None:
            img = self.colour
            x0, y0 = int((x - px) * self.fx), int((y - py) * self.fy)
            x1, y1 = int((x + w + px) * self.fx), int((y + h + py) * self.fy)
        else:
            img = self.grey
            x0, y0, x1, y1 = x - px, y - py, x + w + px, y + h + py
        H, W = img.shape[:2]
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        crop = img[y0:y1, x0:x1]
        if crop.ndim == 3:
            # red ink (serials) is darkest on the green channel; black ink under a red seal keeps its
            # contrast on the red channel, where the seal fades into the paper
            crop = crop[:, :, 1] if ink == "red" else red_dropout(crop)
        if crop.size:
            # photocopies and faint scans: stretch to full contrast (paper white, darkest ink black)
            lo, hi = np.percentile(crop, (1, 95))
            if hi - lo > 20:
                crop = np.clip((crop.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        return crop

    def read(
        self,
        box: tuple[int, int, int, int],
        *,
        whitelist: str | None = None,
        ink: str = "black",
        choices: bool = False,
        psm: int = 7,
        pad: float = 0.35,
        lang: str | None = None,
        zoom: float = 1.0,
    ) -> tuple[str, float, Line | None]:
        """Read one region again on its own. `lang="eng"` gives a second opinion on Latin letters and
        digits from a differently trained model; `zoom` changes the text size the recogniser sees."""
        crop = self.crop(box, ink, pad)
        if crop.size == 0 or min(crop.shape[:2]) < 4:
            return "", 0.0, None
        scale = max(1.0, min(5.0, zoom * 48.0 / max(1, box[3] * self.fy)))
        r = self.reader.read_line(crop, lang=lang, psm=psm, whitelist=whitelist, scale=scale, choices=choices)
        return r.text.strip(), r.confidence, r


# --- field readers --------------------------------------------------------------------------------------


@dataclass
class _Slice:
    start: int
    end: int
    raw: str
    fold: str


def _label_values(
    t: _Text, patterns: dict[str, re.Pattern[str]], start: int = 0, end: int | None = None
) -> dict[str, _Slice]:
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
    bounds = sorted(
        {m.start() for m in hits.values()}
        | {m.start() for p in _STOPS for m in p.finditer(t.fold, start, end)}
        | {b for b in right_lines if start <= b <= end}
    )
    unnumbered = {m.start() for m in hits.values() if not re.match(r"(?:[a-hø]|\d{1,2})\s*[).:;]", m.group(0))}
    out: dict[str, _Slice] = {}
    for name, m in hits.items():
        stop = next((b for b in bounds if b >= m.end()), end)
        s, e = m.end(), stop
        raw = t.raw[s:e]
        if stop in unnumbered:
            # OCR glued the next item's number onto this value (`589     2. Tờ bản đồ` read `5892. Tờ`)
            glued = re.search(r"(?:(?<=\d)|\s)\d\s*[.)]\s*$", raw)
            if glued:
                raw = raw[: glued.start()]
        raw = _strip_item_marker(raw)
        lead = len(raw) - len(raw.lstrip())
        trail = len(raw.rstrip(" \n;,.")) if raw.strip() else 0
        out[name] = _Slice(s + lead, s + trail, t.raw[s + lead : s + trail], t.fold[s + lead : s + trail])
    return out


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


def _strip_item_marker(raw: str) -> str:
    m = _TRAILING_MARKER.search(raw)
    if m and not re.fullmatch(r"[\s.;,]+(?:ha|ba|bo)", m.group(0)):
        raw = raw[: m.start()]
    m = _TRAILING_SPECKS.search(raw)
    if m:
        raw = raw[: m.start()]
    m = _TRAILING_JUNK.search(raw)
    return raw[: m.start()] if m else raw


def _text_value(sl: _Slice) -> str:
    return clean(sl.raw.replace("\n", " ")).strip(" ;,.")


def _read_int_field(t: _Text, pg: _Page, name: str, sl: _Slice) -> Evidence | None:
    m = re.match(r"\s*([0-9OoDQIli|!ZSsBG]+)", sl.raw)
    if not m:
        return None
    value, repaired = _to_int(m.group(1))
    if value is None:
        return None
    s, e = sl.start + m.start(1), sl.start + m.end(1)
    mean, low = t.stats(s, e)
    box = t.tight_box(s, e)
    ev = Evidence(name, value, box, ["ocr"], mean, low, valid=0 < value < 100000, repaired=repaired)
    if box is not None:
        text, conf, _ = pg.read(box, whitelist=DIGITS)
        again, _ = _to_int(text)
        if again is not None:
            if again == value:
                ev.agree += 1
                ev.sources.append("reread")
            else:
                # two readings disagree: a third, from the eng model, breaks the tie. A re-read that lost
                # a digit (`12` read `2`) must not win: a dropped character is likelier than an added one
                text3, conf3, _ = pg.read(box, whitelist=DIGITS, lang="eng", zoom=1.3)
                third, _ = _to_int(text3)
                ev.disagree += 1
                dropped = str(again) in str(value) and len(str(again)) < len(str(value))
                if third == again and not dropped and min(conf, conf3) >= 0.5:
                    ev.value, ev.repaired, ev.sources, ev.agree = again, False, ["reread"], 1
                elif third == value:
                    ev.agree += 1
                    ev.sources.append("reread")
                elif repaired and conf > 0.8:
                    ev.value, ev.repaired = again, False
    return ev


def _read_area(
    t: _Text, pg: _Page, sl: _Slice, words: _Slice | None, warnings: list[str]
) -> tuple[Evidence | None, Evidence | None]:
    """area_m2 from the digits, re-read, and the words; plus area_in_words."""
    value, ambiguous = parse_area(sl.raw)
    readings: list[tuple[Decimal, str]] = []
    m = _AREA_NUM.search(sl.raw) or re.search(r"\d[\d.,]*", sl.raw)
    box = None
    mean = low = 0.0
    if value is not None and m is not None:
        s, e = sl.start + m.start(), sl.start + m.end()
        mean, low = t.stats(s, e)
        box = t.box(s, e)
        readings.append((value, "ocr"))
        if box is not None:
            text, _, _ = pg.read(box, whitelist=DIGITS + ".,m²2 ")
            again, _ = parse_area(text + (" m" if "m" not in text else ""))
            if again is not None:
                readings.append((again, "reread"))
    words_number: Decimal | None = None
    words_ev: Evidence | None = None
    words_text = ""
    if words is not None:
        words_text = _text_value(words).strip("()")
        words_text = re.sub(r"^\(?\s*", "", words_text).rstrip(");,. ")
        words_number = words_value(words_text)
        words_text = _area_words_text(words_text)
        wmean, wlow = t.stats(words.start, words.end)
        words_ev = Evidence(
            "area_in_words",
            canonical_number_words(words_text) if words_text else None,
            t.box(words.start, words.end),
            ["ocr"],
            wmean,
            wlow,
            valid=words_number is not None,
        )
        if words_number is not None:
            readings.append((words_number, "words"))
    if not readings:
        return None, words_ev
    if words_number is not None and box is not None and all(v != words_number for v, src in readings if src != "words"):
        # the words contradict every reading of the digits: one more reading of the digits, by the eng
        # model, before the vote
        text3, _, _ = pg.read(box, whitelist=DIGITS + ".,m²2 ", lang="eng", zoom=1.3)
        third, _ = parse_area(text3 + (" m" if "m" not in text3 else ""))
        if third is not None:
            readings.append((third, "reread"))
    # vote: the value most readings agree on. On a tie the words win: the digit readings share one image
    # region and its damage, the words are an independent rendering of the number
    tally: dict[Decimal, list[str]] = {}
    for v, src in readings:
        tally.setdefault(v, []).append(src)
    best = max(tally, key=lambda v: (len(tally[v]), "words" in tally[v], "ocr" in tally[v]))
    srcs = tally[best]
    ev = Evidence("area_m2", _plain_number(best), box, list(srcs), mean, low, valid=best > 0)
    ev.agree = len(srcs) - 1
    ev.disagree = sum(len(s) for v, s in tally.items() if v != best)
    ev.repaired = ambiguous
    if words_number is not None:
        digits = [v for v, s in readings if s != "words"]
        if digits and all(d != words_number for d in digits):
            ev.check = -1
            warnings.append(
                f"area_words_mismatch: digits {_fmt_area(digits[0])} m² vs words {_fmt_area(words_number)} m²"
            )
        elif digits:
            ev.check = 1
        if words_ev is not None:
            words_ev.agree = int(words_number == best)
            words_ev.check = 1 if words_number == best else -1
    return ev, words_ev


_NUMBER_WORD_KEYS = frozenset(_NUMBER_WORD_SPELLINGS) - {"met", "vuong", "chan"}


def _area_words_text(text: str) -> str:
    """The area in words as printed, without what OCR added after it: up to the last number word, then
    the unit (`mét vuông`) when the print has it."""
    words = text.split()
    keys = [repair_token(name_key(re.sub(r"[^\w]", "", w)).lower()) for w in words]
    last = max((i for i, k in enumerate(keys) if k in _NUMBER_WORD_KEYS), default=-1)
    if last < 0:
        return text
    tail = " mét vuông" if any(k in ("met", "vuong", "m2") for k in keys[last + 1 :]) else ""
    return " ".join(words[: last + 1]) + tail


def _purpose_parts(text: str) -> list[tuple[str | None, str, Decimal | None]]:
    """`Đất ở tại đô thị (ODT): 93,0 m²; Đất trồng cây lâu năm: 50 m²` → [(code, name, area), ...]."""
    parts: list[tuple[str | None, str, Decimal | None]] = []
    for chunk in re.split(r";", text):
        chunk = chunk.strip(" .,\n")
        if not chunk:
            continue
        code_m = re.search(r"\(([A-Z0-9]{3})\)", chunk.upper())
        area_m = re.search(r":\s*([0-9][0-9.,\s]*)\s*m", chunk)
        name = re.sub(r"\([^)]*\)", "", chunk.split(":")[0]).strip(" ,")
        area = parse_area(area_m.group(1) + " m")[0] if area_m else None
        code = code_m.group(1) if code_m else None
        parts.append((code, name, area))
    return parts


def _snap_purpose(name: str) -> tuple[str | None, str, float]:
    """The land-use code and legal name closest to an OCR'd purpose (folded comparison)."""
    key = name_key(name)
    best: tuple[str | None, str, float] = (None, name, 0.0)
    for code, names in LAND_USE_CODES.items():
        for legal in names:
            score = fuzz.ratio(key, name_key(legal))
            if score > best[2]:
                best = (code, legal, score)
    return best


def _read_purpose(
    t: _Text, sl: _Slice, form: str | None, total: float | None, warnings: list[str]
) -> tuple[Evidence, Evidence]:
    text = _text_value(sl)
    mean, low = t.stats(sl.start, sl.end)
    box = t.box(sl.start, sl.end)
    parts = _purpose_parts(text)
    codes: list[str] = []
    rendered: list[str] = []
    snapped_all = True
    printed_codes = False
    for code, name, area in parts:
        snap_code, legal, score = _snap_purpose(name)
        if code and code in LAND_USE_CODES:
            printed_codes = True
            if snap_code != code and score >= 85:
                warnings.append(f"land_use_code_mismatch: printed ({code}) vs purpose text {legal!r}")
        else:
            code = snap_code if score >= 80 else None
        if score < 80:
            snapped_all = False
            legal = name
        if code:
            codes.append(code)
        piece = legal
        if printed_codes and code:
            piece += f" ({code})"
        if area is not None:
            piece += f": {_fmt_area(area)} m²"
        rendered.append(piece)
    purpose = "; ".join(rendered) if rendered else text
    purpose_ev = Evidence("land_use_purpose", purpose, box, ["ocr"], mean, low, valid=snapped_all and bool(parts))
    code_ev = Evidence(
        "land_use_code",
        "+".join(codes) or None,
        box,
        ["ocr"],
        mean,
        low,
        valid=bool(codes) and len(codes) == len(parts),
    )
    if printed_codes:
        code_ev.agree += 1
    areas = [a for _, _, a in parts if a is not None]
    if areas and total is not None:
        s = float(sum(areas))
        if abs(s - total) > 0.05 + 1e-9:
            if form == "gcn_2024_qr" or len(areas) > 1:
                warnings.append(
                    f"purpose_area_sum_mismatch: purposes sum to {_fmt_area(s)} m², total {_fmt_area(total)} m²"
                )
            purpose_ev.check = -1
        else:
            purpose_ev.check = 1
    return purpose_ev, code_ev


def _date_of(groups: tuple[str | Any, ...]) -> date | None:
    try:
        d, mo, y = (int(str(g).translate(_DIGIT_FIX)) for g in groups)
        # certificates exist from the late 1980s; a year outside that is a misread, not a date
        return date(y, mo, d) if 1980 <= y <= date.today().year + 1 else None
    except ValueError:
        return None


def _snap_authority(text: str, issue: date | None, place: str = "") -> tuple[str, float]:
    """The issuing body nearest to the OCR'd block. The seal often hides a line: among near-ties the
    place in the date line decides (`Thừa Thiên Huế, ngày ...` for the province's bodies, `Huế, ngày ...`
    for the city's), and for the Sở the date does (Huế became a centrally-run city on 1/1/2025)."""
    key = name_key(re.sub(r"^\s*T\.?\s*M\s*[.,]?\s*", "", text, flags=re.I))
    if len(key) < 6:
        return "", 0.0
    # coverage: how much of each body's name the reading holds (a line the seal hid costs that line's
    # words); garbage the seal added costs nothing
    words = key.split()

    def coverage(name: str) -> float:
        parts = name_key(name).split()
        hit = sum(1 for p in parts if any(fuzz.ratio(p, w) >= 80 for w in words))
        return 100.0 * hit / len(parts)

    scored = sorted(((coverage(a), a) for a in AUTHORITIES), key=lambda x: -x[0])
    best_score, best = scored[0]
    ties = [a for sc, a in scored if sc >= best_score - 3]
    place_key = name_key(place)
    if len(ties) > 1 and place_key:
        province = "THUA THIEN" in place_key
        pref = [a for a in ties if ("TINH THUA THIEN" in name_key(a)) == province]
        if pref:
            best = pref[0]
    if "SO TAI NGUYEN" in name_key(best) and issue is not None and "TINH" not in key and "THANH PHO" not in key:
        best = AUTHORITIES[11] if issue >= date(2025, 1, 1) else AUTHORITIES[10]
    if best_score >= 75:
        return best, best_score / 100.0
    return clean(text).upper(), 0.3


_SIGNER_TITLE = re.compile(r"(?m)^\s*(?:kt|tl|tuq|q)\s*[.,]\s*(?:chu\s*tich|giam\s*doc|pho)")
_AUTHORITY_LINE = re.compile(r"(?m)^\s*(?:tm\s*[.,]\s*)?(?:uy\s*ban\s*nhan\s*dan|so\s*tai\s*nguyen|so\s*nong\s*nghiep)")


def _read_signature_block(t: _Text, pg: _Page, fields: dict[str, Evidence], warnings: list[str]) -> None:
    m = _DATE_LINE.search(t.fold) or _DATE_LOOSE.search(t.fold)
    issue: date | None = None
    date_box: tuple[int, int, int, int] | None = None
    place = ""
    if m:
        issue = _date_of(m.groups())
        repaired = m.re is _DATE_LOOSE
        if issue is None:
            # read the line again on its own, seal dropped and upscaled
            line_box = t.lines[t.line_index(m.start())].box
            again, _, _ = pg.read(line_box, pad=0.15)
            mm = _DATE_LINE.search("".join(_fold_char(c) for c in again))
            issue = _date_of(mm.groups()) if mm else None
        mean, low = t.stats(m.start(), m.end())
        fields["issue_date"] = Evidence(
            "issue_date",
            issue.isoformat() if issue else None,
            t.box(m.start(), m.end()),
            ["ocr"],
            mean,
            low,
            valid=issue is not None,
            repaired=repaired,
        )
        li = t.line_index(m.start())
        place = t.raw[t.line_start(li) : m.start()]
        date_box = t.lines[li].box
    else:
        # the italic date line lost (a seal, a bad scan) but the signing block found: the date is the line
        # above the body's name, which is above `KT. CHỦ TỊCH` / `GIÁM ĐỐC`
        am = _AUTHORITY_LINE.search(t.fold, len(t.fold) // 3)
        km = _SIGNER_TITLE.search(t.fold, len(t.fold) // 3)
        anchor = am or km
        if anchor is not None:
            ax, ay, aw, ah = t.lines[t.line_index(anchor.start())].box
            lines_up = 1.55 if anchor is am else 3.7
            cx = ax + aw / 2
            half = max(aw, 8 * ah) * 0.75
            top = int(ay - lines_up * ah)
            block_box = (int(cx - half), top, int(2 * half), int(ay - top))
            text, conf, _ = pg.read(block_box, psm=6, pad=0.1)
            folded = "".join(_fold_char(c) for c in text)
            dm = _DATE_LINE.search(folded) or _DATE_LOOSE.search(folded)
            if dm:
                issue = _date_of(dm.groups())
                place = text[max(0, dm.start() - 20) : dm.start()]
                fields["issue_date"] = Evidence(
                    "issue_date", issue.isoformat() if issue else None, block_box, ["reread"], conf, conf,
                    valid=issue is not None, repaired=dm.re is _DATE_LOOSE,
                )  # fmt: skip
                date_box = (int(cx - half * 0.7), top, int(1.4 * half), int(ah))
    if date_box is not None:
        li = max(
            0, next((i for i, ln in enumerate(t.lines) if ln.box[1] > date_box[1] + date_box[3] / 2), len(t.lines)) - 1
        )
        dx, dy, dw, dh = date_box
        # the body's name: the two lines under the date, centred on it; the seal sits on them
        region = (int(dx - 0.15 * dw), int(dy + 1.1 * dh), int(1.3 * dw), int(3.0 * dh))
        block = [
            ln
            for ln in t.lines[li + 1 : li + 5]
            if ln.box[1] < region[1] + region[3] and ln.box[0] < dx + dw and ln.box[0] + ln.box[2] > dx
        ]
        block = [
            ln
            for ln in block
            if not re.match(r"^(KT|Q|TL|TUQ)\W", name_key(ln.text))
            and not re.search(r"CHU TICH|GIAM DOC", name_key(ln.text))
        ]
        cands: list[tuple[str, float]] = []
        if block:
            cands.append(
                (" ".join(ln.text for ln in block), float(np.mean([w.conf for ln in block for w in ln.words])))
            )
        # read on the red channel, where the seal fades into the paper
        again, rconf, _ = pg.read(region, psm=6, pad=0.05)
        again = re.split(r"(?i)n[aă]m\s*\d{4}", again)[-1]
        cut = re.search(r"\b(?:kt|q|tl|tuq)\s*[.,]|chu\s*tich|giam\s*doc", "".join(_fold_char(c) for c in again))
        again = again[: cut.start()] if cut else again
        if again:
            cands.append((again, rconf))
        snapped = [(*_snap_authority(c, issue, place), conf) for c, conf in cands]
        snapped = [x for x in snapped if x[0]]
        if snapped:
            value, score, conf = max(snapped, key=lambda x: (x[1], x[2]))
            aev = Evidence(
                "issuing_authority", value, region, ["ocr"], conf, min(x[2] for x in snapped), valid=score >= 0.75
            )
            valid = [x for x in snapped if x[1] >= 0.75]
            if len(valid) > 1:
                if valid[0][0] == valid[1][0]:
                    aev.agree += 1
                    aev.sources.append("reread")
                else:
                    aev.disagree += 1
            fields["issuing_authority"] = aev
    reg = _REGISTRY.search(t.fold)
    if reg is None:
        # `Số vào sổ cấp GCN: ...` sits alone near the bottom edge, where page segmentation often drops
        # it: read the bottom band as a block and look for the label there
        H = pg.grey.shape[0]
        t = _Text(_visual_lines(TextPage.of_lines(_ocr_band(pg, int(H * 0.84), int(H * 0.965)))))
        reg = _REGISTRY.search(t.fold)
    if reg is None:
        return
    end = t.fold.find("\n", reg.end())
    end = len(t.fold) if end < 0 else end
    value = _clean_registry(t.raw[reg.end() : end].strip(" .;:"))
    if not value:
        return
    mean, low = t.stats(reg.end(), end)
    box = t.box(reg.end(), end)
    ev = Evidence("registry_number", value, box, ["ocr"], mean, low, valid=_registry_valid(value))
    if box is not None:
        again, _, _ = pg.read(box, whitelist="ABCDEFGHIJKLMNOPQRSTUVWXYZĐ0123456789./ ")
        again_v = _clean_registry(again)
        if again_v == value:
            ev.agree += 1
            ev.sources.append("reread")
        elif again_v and _registry_valid(again_v) and not ev.valid:
            ev.value, ev.valid, ev.disagree = again_v, True, 1
        elif again_v:
            ev.disagree += 1
    fields["registry_number"] = ev


def _clean_registry(raw: str) -> str:
    s = clean(raw).upper().replace(" .", ".").replace(". ", ".")
    s = re.sub(r"QSD[DĐ1I|]", "QSDĐ", s)
    s = re.sub(r"\s*/\s*", "/", s)
    s = re.sub(r"[^A-ZĐ0-9./ ]", "", s).strip()
    # the letters prefix: digits misread for letters, and the other way round in the number part
    m = re.match(r"^([A-Z0-9]{2})(\s?)([0-9OIlSB.]{4,7})$", s)
    if m and not m.group(1).isdigit():
        s = m.group(1).translate(_ALPHA_FIX) + m.group(2) + m.group(3).translate(_DIGIT_FIX)
    return s


def _registry_valid(value: str) -> bool:
    return bool(
        re.fullmatch(r"[A-Z]{2}\s?\d{2}\.?\d{3,5}", value)
        or re.fullmatch(r"\d{3,6}\s?QSDĐ(?:/\d{1,5})?(?:/[A-ZĐ]+)?", value)
        or re.fullmatch(r"[A-Z]{1,3}\s?\d{3,7}", value)
    )


def _read_serial(t: _Text, pg: _Page, form: str | None, h: int) -> Evidence | None:
    """The certificate serial, printed in red at the bottom right of page 1."""
    best: tuple[float, Evidence] | None = None
    for m in _SERIAL_RE.finditer(t.raw):
        letters, digits = m.group(1), m.group(2).translate(_DIGIT_FIX)
        if not digits.isdigit():
            continue
        box = t.box(m.start(), m.end())
        if box is None:
            continue
        y_rel = (box[1] + box[3] / 2) / max(1, h)
        if y_rel < 0.6:
            continue  # the serial is at the bottom; above it are ID numbers and registry numbers
        mean, low = t.stats(m.start(), m.end())
        cand = Evidence(
            "certificate_serial", f"{letters} {digits}", box, ["ocr"], mean, low, repaired=digits != m.group(2)
        )
        W = pg.grey.shape[1]
        fmt = SERIAL_FORMATS.get(form or "")
        # bottom right, in the form's format, read with confidence
        score = (
            y_rel + mean + 0.3 * (box[0] + box[2] / 2) / max(1, W) + (0.5 if fmt and fmt.fullmatch(cand.value) else 0)
        )
        if best is None or score > best[0]:
            best = (score, cand)
    ev: Evidence | None = best[1] if best else None
    region = ev.box if ev else _red_text_box(pg, h)
    if ev is None and region is None:
        # a photocopy turns the red serial grey: find it in the bottom-right band as sparse text
        W = pg.grey.shape[1]
        y0 = int(h * 0.75)
        band = pg.reader.read(pg.grey[y0 : int(h * 0.98), int(W * 0.5) :], psm=11)
        for line in band.lines:
            # the words of the serial only: the line box also holds whatever specks sit beside it
            for k, word in enumerate(line.words):
                if (
                    re.fullmatch(r"[0-9OIlSB]{6}(?:[0-9OIlSB]{2})?", word.text)
                    and sum(c.isdigit() for c in word.text) >= 4
                ):
                    parts = [word.box] + ([line.words[k - 1].box] if k and line.words[k - 1].text.isalpha() else [])
                    x, y, w, _ = _union(parts)
                    hh = min(p[3] for p in parts)  # a speck under a digit stretches its box
                    region = (x + int(W * 0.5), y + y0, w, hh)
                    break
            if region is not None:
                break
    if region is None:
        return ev
    # the serial is the registry's key: three more readings (the vie model, and the eng model at two
    # text sizes, which is surer of Latin capitals and digits) vote with the layout pass
    votes: list[tuple[str, float, str]] = []
    if ev is not None:
        votes.append((ev.value, ev.ocr_conf, "ocr"))
    for lang, zoom in ((None, 1.0), ("eng", 1.0), ("eng", 1.6)):
        text, conf, _ = pg.read(region, whitelist=SERIAL_CHARS, ink="red", lang=lang, zoom=zoom)
        # the eng model sometimes reads the gap after the letters as `L`/`I` (`AIL575839`)
        sm = _SERIAL_RE.search(re.sub(r"\s+", " ", text.upper())) or _SERIAL_GAP_RE.search(text.upper())
        if sm and sm.group(2).translate(_DIGIT_FIX).isdigit():
            votes.append((f"{sm.group(1)} {sm.group(2).translate(_DIGIT_FIX)}", conf, "reread"))
    if not votes:
        return ev
    fmt = SERIAL_FORMATS.get(form or "")
    tally: dict[str, list[tuple[float, str]]] = {}
    for value, conf, src in votes:
        tally.setdefault(value, []).append((conf, src))
    best_value = max(
        tally, key=lambda v: (len(tally[v]), bool(fmt and fmt.fullmatch(v)), "ocr" in [s for _, s in tally[v]])
    )
    backers = tally[best_value]
    confs = [c for c, _ in backers]
    if ev is None:
        ev = Evidence("certificate_serial", best_value, region, [], max(confs), min(confs))
    elif ev.value != best_value:
        ev.value, ev.ocr_conf, ev.min_conf, ev.repaired = best_value, max(confs), min(confs), False
    ev.sources = sorted({src for _, src in backers})
    ev.agree = len(backers) - 1
    ev.disagree = len(votes) - len(backers)
    if ev is not None and form in SERIAL_FORMATS:
        ev.valid = bool(SERIAL_FORMATS[form].fullmatch(ev.value))
    return ev


def _red_text_box(pg: _Page, h: int) -> tuple[int, int, int, int] | None:
    """Where red print sits in the bottom band of the page, in layout coordinates (serial fallback)."""
    if pg.colour is None:
        return None
    img = pg.colour
    H, W = img.shape[:2]
    # the lower part of the page: a photographed or cropped page puts the serial well above the bottom edge
    y0 = int(H * 0.6)
    band = img[y0:, int(W * 0.45) :].astype(np.int16)
    b, g, r = band[:, :, 0], band[:, :, 1], band[:, :, 2]
    mask = ((r - g > 60) & (r - b > 50) & (r > 120)).astype(np.uint8)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 25), np.uint8))
    _, _, stats, _ = components(closed)
    # a line of text: wider than tall, not a rule of the printed frame (long, thin, solid)
    comps = [s for s in stats[1:] if 4 * s[3] < s[2] < 0.4 * W and H * 0.008 < s[3] < H * 0.05]
    if not comps:
        return None
    # the lowest line of red print (a red title or stamp text sits higher)
    x, y, w, hh, _ = max(comps, key=lambda s: s[1] + s[3])
    gx = (x + int(W * 0.45)) / pg.fx
    gy = (y + y0) / pg.fy
    return (int(gx), int(gy), int(w / pg.fx), int(hh / pg.fy))


# --- owners -----------------------------------------------------------------------------------------------

_RELATIONSHIPS = {
    "ho ong ba": "Hộ ông(bà)",
    "ho ong": "Hộ ông",
    "ho ba": "Hộ bà",
    "ho gia dinh ong": "Hộ gia đình ông",
    "ho gia dinh ba": "Hộ gia đình bà",
    "ong ba": "Ông(bà)",
    "ong": "Ông",
    "ba": "Bà",
    "va vo": "Và vợ",
    "va chong": "Và chồng",
    "va vo ba": "Và vợ",
    "va chong ong": "Và chồng",
    "va vo la ba": "Và vợ",
    "va chong la ong": "Và chồng",
    "va ong": "Và ông",
    "va ba": "Và bà",
}


def _relationship(title_fold: str) -> str:
    key = re.sub(r"[^a-z]+", " ", title_fold).strip()
    return _RELATIONSHIPS.get(key, key.capitalize())


def _sex_of(rel: str) -> str | None:
    """The sex a title implies (`Ông`, `Và chồng` male; `Bà`, `Và vợ` female; `Hộ ông(bà)` neither)."""
    k = name_key(rel)
    if "(" in k:
        return None
    if k.endswith(("ONG", "CHONG")):
        return "male"
    if k.endswith(("BA", "VO")):
        return "female"
    return None


def _name_text(raw: str) -> str:
    """Letters of a name, upper case as the registry stores it (pre-2009 forms print title case)."""
    text = clean(raw).upper()
    text = re.sub(r"[^A-ZÀ-ỸĐ ]", " ", text)
    return " ".join(w for w in text.split() if len(w) > 1 or w in ("Ý", "Ỷ", "Y"))


def _lexicon_name(words: list[str], choices: list[Any] | None) -> tuple[str, float, int]:
    """Lexicon correction (worker/extract/lexicon.py): (name, lowest posterior of a known word, words
    the lexicon does not know)."""
    lexicon = _sibling("lexicon")
    if lexicon is None or not words:  # pragma: no cover - the lexicon ships with the ID-card extractor
        return " ".join(words), 0.0, len(words)
    name, probs, _ = lexicon.correct_name(words, choices)
    known = [p for p in probs if p > 0]
    return clean(name).upper(), (min(known) if known else 0.0), len(probs) - len(known)


def _reread_name(reading: Line | None) -> tuple[str, float, int, str] | None:
    """The name re-read from its own region, corrected with the recogniser's per-letter alternatives:
    (name, lowest posterior, unknown words, the re-read's own text before correction)."""
    if reading is None or not reading.words:
        return None
    words: list[str] = []
    choices: list[Any] = []
    for w in reading.words:
        cleaned = _name_text(w.text)
        if not cleaned:
            continue
        words.append(cleaned)
        choices.append([s.choices for s in w.symbols] if cleaned == clean(w.text).upper() else None)
    return (*_lexicon_name(words, choices), " ".join(words)) if words else None


def _gap_end(t: _Text, start: int, end: int) -> int:
    """Where the text block starting at `start` ends: the first vertical gap of several line heights
    (below the owners come only the serial and page furniture, far down the page)."""
    first = t.line_index(start)
    last = t.line_index(max(start, end - 1))
    heights = [ln.box[3] for ln in t.lines[first : last + 1] if ln.box[3] > 0]
    if not heights:
        return end
    unit = float(np.median(heights))
    for i in range(first + 1, min(last, len(t.lines) - 1) + 1):
        prev, cur = t.lines[i - 1].box, t.lines[i].box
        if cur[1] - (prev[1] + prev[3]) > 4.0 * unit:
            return min(end, t.line_start(i))
    return end


def _read_owners(t: _Text, pg: _Page, form: str | None, warnings: list[str]) -> list[dict[str, Evidence]]:
    sec = _OWNER_SECTION.search(t.fold)
    start = sec.end() if sec else 0
    end_m = _OWNERS_END.search(t.fold, start)
    end = end_m.start() if end_m else len(t.fold)
    end = _gap_end(t, start, end)
    starts: list[re.Match[str]] = list(_OWNER_START.finditer(t.fold, start, end))
    # a title misread (`Hạ LE THỊ NGỌC THU; CCCD số: ...`, `Bài NGUYỄN ...`): a short word, then a name in
    # capitals, on a line that also carries a birth year or an ID number
    strict_lines = {t.line_index(mm.start()) for mm in starts}
    starts += [
        mm
        for mm in _OWNER_START_LOOSE.finditer(t.fold, start, end)
        if t.line_index(mm.start()) not in strict_lines
        and re.match(r"\s*[:;.]?\s*[A-ZĐÀ-Ỹ]{2,}\s", t.raw[mm.end("title") :])
        and mm.group("title") not in ("cccd", "cmnd", "cmt", "so", "dia", "nam", "sinh")
    ]
    if form == "gcn_pre2009":
        strict_lines = {t.line_index(mm.start()) for mm in starts}
        starts += [
            mm
            for mm in _OWNER_START_PRE.finditer(t.fold, start, end)
            if t.line_index(mm.start()) not in strict_lines
            and mm.group("title") not in ("cccd", "cmnd", "cmt", "so", "dia", "nam", "sinh")
            and _TITLE_CASE_NAME.match(t.raw, mm.end(), t.raw.find("\n", mm.end()))
        ]
    starts.sort(key=lambda mm: mm.start())
    owners: list[dict[str, Evidence]] = []
    for i, m in enumerate(starts):
        b_end = starts[i + 1].start() if i + 1 < len(starts) else end
        owner = _read_owner(t, pg, m, b_end, form, warnings, len(owners))
        if owner:
            owners.append(owner)
    return owners


def _read_owner(
    t: _Text, pg: _Page, m: re.Match[str], end: int, form: str | None, warnings: list[str], index: int
) -> dict[str, Evidence]:
    f = t.fold
    out: dict[str, Evidence] = {}
    rel = _relationship(m.group("title")) if m.re is _OWNER_START else None
    tmean, tlow = t.stats(m.start("title"), m.end("title"))
    if rel is not None:
        out["relationship"] = Evidence(
            "owner.relationship", rel, t.box(m.start("title"), m.end("title")), ["ocr"], tmean, tlow
        )
    # the block ends before the serial / page furniture: stop at a line of mostly non-owner content
    block_end = end
    tail = re.compile(r"(?m)^\s*mau\s*gcn").search(f, m.end(), end)
    if tail:
        block_end = tail.start()
    # name: after the title, up to a comma/semicolon, `sinh năm`, the ID label or the line end
    ns = m.end()
    # `Và vợ: Bà TRẦN THỊ BÍCH`: the spouse's own title follows the relationship
    own_title = re.match(r"\s*(?:ong|ba)\b\s*[:.]?\s*", f[ns:block_end])
    if own_title and m.group("title").startswith("va"):
        ns += own_title.end()
    stops = [f.find(c, ns, block_end) for c in (",", ";", "\n")]
    for pat in (_BIRTH, _ID, _ADDRESS):
        mm = pat.search(f, ns, block_end)
        if mm:
            stops.append(mm.start())
    ne = min([s for s in stops if s >= 0] or [block_end])
    name_raw = t.raw[ns:ne]
    name = _name_text(name_raw)
    if name:
        mean, low = t.stats(ns, ne)
        box = t.box(ns, ne)
        ev = Evidence("owner.full_name", name, box, ["ocr"], mean, low, valid=2 <= len(name.split()) <= 6)
        lay, lay_post, lay_unknown = _lexicon_name(name.split(), None)
        posterior = lay_post
        if lay != name:
            ev.value, ev.repaired = lay, True
            ev.sources.append("lexicon")
        if box is not None:
            _, conf, reading = pg.read(box, choices=True)
            again = _reread_name(reading)
            if again is not None and len(again[0].split()) == len(lay.split()):
                rer, rer_post, rer_unknown, rer_raw = again
                if rer == lay or (rer_raw == name and lay == name):
                    # the same reading twice, the lexicon content with it: a close call between two known
                    # spellings (Hòa/Hoa) must not overrule two readings that agree on the tone marks
                    ev.agree += 1
                    ev.sources.append("reread")
                elif name_key(rer) == name_key(lay):
                    # same letters, other tone marks: the reading with the letter alternatives decides
                    if rer_post >= lay_post:
                        ev.value, ev.repaired, posterior = rer, True, rer_post
                        ev.sources = ["reread", "lexicon"]
                        ev.ocr_conf = max(ev.ocr_conf, conf)
                else:
                    ev.disagree += 1
                    if rer_unknown < lay_unknown:
                        ev.value, posterior = rer, rer_post
                        ev.sources = ["reread", "lexicon"]
        ev.check = 1 if posterior > 0.9 else (0 if posterior > 0.5 else -1)
        out["full_name"] = ev
    by = _BIRTH.search(f, m.end(), block_end)
    birth_year: int | None = None
    if by:
        s, e = by.start("y"), by.end("y")
        year, repaired = _to_int(t.raw[s:e])
        mean, low = t.stats(s, e)
        box = t.box(s, e)
        ev = Evidence("owner.birth_year", year, box, ["ocr"], mean, low, valid=_year_ok(year), repaired=repaired)
        if box is not None:
            text, _, _ = pg.read(box, whitelist=DIGITS)
            year_again, _ = _to_int(text)
            if year_again is not None and year_again == year:
                ev.agree += 1
                ev.sources.append("reread")
            elif year_again is not None:
                ev.disagree += 1
                if not ev.valid and _year_ok(year_again):
                    ev.value, ev.valid = year_again, True
        birth_year = ev.value
        out["birth_year"] = ev
    idm = _ID.search(f, m.end(), block_end) or _BARE_ID.search(f, m.end(), block_end)
    if idm:
        label = idm.group("label")
        digits_only = re.sub(r"\D", "", idm.group("num"))
        if re.search(r"cccd|can\s*cuoc|dinh\s*danh", label):
            id_type = "CCCD"
        elif re.search(r"cmnd|cmt", label):
            id_type = "CMND"
        elif re.search(r"cc|cd", label) or (idm.re is _BARE_ID and len(digits_only) == 12):
            id_type = "CCCD"
        elif re.search(r"cm|nd", label) or (idm.re is _BARE_ID and len(digits_only) == 9):
            id_type = "CMND"
        else:
            id_type = "other"
        lmean, llow = t.stats(idm.start("label"), idm.end("label"))
        out["id_type"] = Evidence(
            "owner.id_type", id_type, t.box(idm.start("label"), idm.end("label")), ["ocr"], lmean, llow
        )
        s, e = idm.start("num"), idm.end("num")
        raw = t.raw[s:e]
        if re.fullmatch(r"-\s*/\s*-", raw.strip()):
            out["id_number"] = Evidence("owner.id_number", None, t.box(s, e), ["ocr"], *t.stats(s, e))
        else:
            digits = re.sub(r"\s+", "", raw).translate(_DIGIT_FIX)
            mean, low = t.stats(s, e)
            box = t.box(s, e)
            ev = Evidence(
                "owner.id_number",
                digits,
                box,
                ["ocr"],
                mean,
                low,
                valid=len(digits) in (9, 12) and digits.isdigit(),
                repaired=digits != re.sub(r"\s+", "", raw),
            )
            if box is not None:
                text, conf, _ = pg.read(box, whitelist=DIGITS)
                id_again = re.sub(r"\D", "", text)
                if id_again == digits:
                    ev.agree += 1
                    ev.sources.append("reread")
                elif id_again:
                    ev.disagree += 1
                    third = re.sub(r"\D", "", pg.read(box, whitelist=DIGITS, lang="eng", zoom=1.3)[0])
                    if third == id_again and len(third) in (9, 12):
                        ev.value, ev.valid, ev.sources, ev.agree = third, True, ["reread"], 1
                    elif third == digits:
                        ev.agree += 1
                        ev.sources.append("reread")
                    elif len(id_again) in (9, 12) and (not ev.valid or conf > ev.ocr_conf + 0.15):
                        ev.value, ev.valid = id_again, True
                        ev.sources = ["reread"]
            if id_type == "CMND" and isinstance(ev.value, str) and len(ev.value) == 12 and form != "gcn_pre2009":
                pass  # 12-digit CMND numbers existed 2013-2016
            _check_id(ev, birth_year, _sex_of(rel) if rel else None, warnings, index)
            out["id_number"] = ev
    # the 2024 form prints name and ID only: an `Địa chỉ` there is the parcel's
    am = _ADDRESS.search(f, m.end(), block_end) if form != "gcn_2024_qr" else None
    if am:
        s, e = am.end(), block_end
        # `Địa chỉ thường trú:` with its second half misread (`thường ưu:`): the label ends at its colon
        colon = f.find(":", am.start(), min(am.start() + 28, e))
        if colon >= s - 1 and not re.search(r"\d", f[s : colon + 1]):
            s = colon + 1
        # a co-owner whose title line OCR garbled (`Bài NGTRN ...`) was not split off: its year, ID or
        # address label inside this address ends it, right after the province the address ends with
        marks = [mm.start() for pat in (_BIRTH, _ID, _ADDRESS, _OWNER_IN_ADDRESS) if (mm := pat.search(f, s, e))]
        run_on = False
        if marks:
            mk = min(marks)
            provinces = list(_PROVINCE_END.finditer(f, s, mk))
            if provinces:
                e, run_on = provinces[-1].end(), True
            elif t.line_index(mk) > t.line_index(s):
                e, run_on = t.line_start(t.line_index(mk)), True
        raw = _strip_item_marker(t.raw[s:e])
        trail = len(raw.rstrip(" \n;,."))
        text = clean(raw[:trail].replace("\n", " ")).strip(" ;,.")
        if text:
            mean, low = t.stats(s, s + trail)
            out["address"] = Evidence(
                "owner.address", canonical_address(text), t.box(s, s + trail), ["ocr"], mean, low, repaired=run_on
            )
    return out


# the province an owner's address ends with (pre-2025 `tỉnh Thừa Thiên Huế`, from 2025 `thành phố Huế`)
_PROVINCE_END = re.compile(r"thua\s*thien\s*-?\s*hue|thanh\s*pho\s*hue(?!\s*,)")
# an owner title inside another owner's address: `Bà:`, `Ông:`, `Và vợ:`, `Và chồng:`
_OWNER_IN_ADDRESS = re.compile(r"(?<![a-z])(?:ba|ong|va\s*vo|va\s*chong)\s*[:;]")


def _check_id(ev: Evidence, birth_year: int | None, sex: str | None, warnings: list[str], index: int) -> None:
    """A 12-digit personal number encodes century+sex and the birth year's last two digits (domain.md)."""
    num = ev.value
    if not isinstance(num, str) or len(num) != 12 or not num.isdigit():
        return
    g = int(num[3])
    if g > 5:
        ev.check = -1
        warnings.append(f"owner_{index + 1}_id_number_structure: century/sex digit {num[3]} is not 0-5")
        return
    encoded_year = 1900 + (g // 2) * 100 + int(num[4:6])
    encoded_sex = "female" if g % 2 else "male"
    ok = True
    if birth_year is not None and encoded_year != birth_year:
        ok = False
        warnings.append(
            f"owner_{index + 1}_id_birth_year_mismatch: id_number encodes {encoded_year}, printed birth year {birth_year}"
        )
    if sex is not None and encoded_sex != sex:
        ok = False
        warnings.append(f"owner_{index + 1}_id_sex_mismatch: id_number encodes {encoded_sex}, title implies {sex}")
    if birth_year is not None or sex is not None:
        ev.check = 1 if ok else -1


# addresses: the words and names certificates print, respelled when OCR loses or swaps their tone marks.
# Huế street and village names are public geography, not personal data; a name is only ever replaced by
# one with the same letters (diacritics differ), and only as a whole run of two or more words, so a
# single syllable (`Dương` in `Dương Văn An`, `Huệ`) is never forced onto another word.
_UNIT_WORDS = (
    "phường", "xã", "thị trấn", "thị xã", "thành phố", "huyện", "tỉnh", "quận", "thôn", "tổ dân phố", "tổ",
    "kiệt", "hẻm", "ngõ", "khu vực", "khu phố", "số",
)  # fmt: skip
HUE_STREETS: tuple[str, ...] = (
    "Lê Lợi", "Hùng Vương", "Trần Hưng Đạo", "Bà Triệu", "Nguyễn Huệ", "Hà Nội", "Lý Thường Kiệt",
    "Điện Biên Phủ", "Phan Đình Phùng", "Nguyễn Trãi", "Đống Đa", "Lê Duẩn", "Trần Phú", "Phan Bội Châu",
    "Ngự Bình", "Hai Bà Trưng", "Nguyễn Sinh Cung", "Chi Lăng", "Đặng Tất", "Nguyễn Công Trứ", "Võ Thị Sáu",
    "Chu Văn An", "Đội Cung", "Bến Nghé", "Ngô Quyền", "Tôn Đức Thắng", "Nguyễn Lộ Trạch", "Dương Văn An",
    "Tố Hữu", "Phạm Văn Đồng", "Minh Mạng", "Huyền Trân Công Chúa", "Lê Ngô Cát", "Bùi Thị Xuân",
    "Nguyễn Khoa Chiêm", "Hoàng Quốc Việt", "Trường Chinh", "An Dương Vương", "Nguyễn Văn Linh",
    "Xuân Diệu", "Nguyễn Phúc Nguyên", "Ưng Bình", "Thích Tịnh Khiết", "Lịch Đợi", "Tuệ Tĩnh", "Hàn Mặc Tử",
    "Nguyễn Chí Thanh", "Mai Thúc Loan", "Đinh Tiên Hoàng", "Lê Huân", "Ông Ích Khiêm", "Nguyễn Du",
    "Kim Long", "Văn Thánh", "Lê Quý Đôn", "Trần Cao Vân", "Võ Văn Kiệt", "Hồ Đắc Di", "Phạm Ngũ Lão",
    "Nguyễn Thái Học", "Lê Thánh Tôn", "Nhật Lệ", "Nguyễn Tri Phương", "Huỳnh Thúc Kháng", "Chế Lan Viên",
    "Trần Quang Khải", "Nguyễn Văn Cừ", "Lý Tự Trọng", "Đoàn Hữu Trưng", "Nguyễn Lương Bằng", "Tô Hiến Thành",
    "Phan Chu Trinh", "Hoàng Hoa Thám", "Lê Lai", "Ngô Đức Kế", "Đặng Thái Thân", "Hồ Xuân Hương",
    "Dương Thiệu Tước", "Tăng Bạt Hổ", "Tản Đà", "Hàm Nghi", "Duy Tân", "Thành Thái", "Khải Định",
    "Bảo Quốc", "Đào Duy Từ", "Nguyễn Chí Diểu", "Lê Văn Hưu", "Phùng Hưng", "Mạc Đĩnh Chi", "Trần Nhân Tông",
    "Nguyễn Hoàng", "Phan Văn Trường", "Nguyễn Gia Thiều", "Hải Triều", "Lê Đình Chinh", "Nguyễn Văn Trỗi",
    "Lê Minh", "Hoàng Diệu", "Thánh Gióng", "Lam Sơn", "Lê Hồng Phong", "Ngô Thế Lân", "Trần Thúc Nhẫn",
)  # fmt: skip
HUE_VILLAGES: tuple[str, ...] = (
    "Lại Thế", "Dương Nỗ", "Chiết Bi", "Thanh Thủy Chánh", "Vĩnh Thanh", "An Thuận", "Lương Văn", "Thủy Phú",
    "Giáp Kiền", "Văn Xá", "Phú Ốc", "Liễu Cốc", "Hạ Lang", "Vỹ Dạ", "Nam Phổ", "Thế Lại", "Nguyệt Biều",
    "Lương Quán", "Kim Long", "Thanh Phước", "Bao Vinh", "Sình", "Phước Tích", "Bác Vọng", "Mỹ Lợi",
)  # fmt: skip


@cache
def _gazetteer() -> dict[str, str]:
    """Folded key of a multi-word name → its spelling; keys two spellings share are dropped (ambiguous)."""
    table: dict[str, str] = {}
    for name in (*HUE_STREETS, *HUE_VILLAGES):
        if " " not in name:
            continue
        key = name_key(name)
        table[key] = "" if key in table and table[key] != name else name
    return {k: v for k, v in table.items() if v}


@cache
def _units() -> dict[str, str]:
    return {name_key(u): u for u in _UNIT_WORDS}


_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _respell_runs(
    text: str, table: dict[str, str], min_words: int = 2, max_words: int = 4, follow_case: bool = False
) -> str:
    tokens = list(_WORD.finditer(text))
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        for n in range(min(max_words, len(tokens) - i), min_words - 1, -1):
            span = tokens[i : i + n]
            if re.search(r"[^\w\s]", text[span[0].start() : span[-1].end()]):
                continue  # a name never spans punctuation
            canonical = table.get(name_key(" ".join(t.group(0) for t in span)))
            if canonical:
                first = span[0].group(0)
                out.append(text[last : span[0].start()])
                if follow_case:
                    canonical = (canonical[0].upper() if first[:1].isupper() else canonical[0].lower()) + canonical[1:]
                out.append(canonical)
                last = span[-1].end()
                i += n
                break
        else:
            i += 1
    out.append(text[last:])
    return "".join(out)


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

    return re.sub(r"(?<![\w])((?i:ki[eêệẹể]t|h[eẻ]m|ng[oõ]))(\s+\d)", lane, part)


def canonical_address(text: str) -> str:
    """Respell an address read by OCR, component by component: the unit words (`phuòng` → `phường`),
    the administrative names after them (the extract stage's gazetteer, worker/extract/places.py), and in
    the first component only whole multi-word street and village names (`Trường Chỉnh` → `Trường Chinh`).
    House numbers and unknown words stay as read."""
    places = _sibling("places")
    # addresses print commas between components and no other punctuation: OCR's `;` is a comma, a `:`
    # inside a name (`Lê: Lợi`) a speck
    text = re.sub(r"\s*;\s*", ", ", text)
    text = re.sub(r"(?<=\w)\s*:\s*(?=\w)", " ", text)
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r"(?<=\d)\.(?=[^\W\d_])", " ", text)
    text = re.sub(r"(?i)\b(ki[eệ]t|h[eẻ]m|ng[oõ]|t[oổ])(?=\d)", r"\1 ", text)
    parts = text.split(",")
    out = []
    for i, part in enumerate(parts):
        fixed = _respell_unit(part)
        if i == 0:
            fixed = _respell_runs(fixed, _gazetteer())
        elif places is not None:
            fixed = _keep_case(fixed, places.correct(fixed))
        out.append(fixed)
    return ",".join(out)


# --- the 2024 form: QR and certificate code -----------------------------------------------------------------


def _parse_qr(payload: str) -> dict[str, Any]:
    """Fields recognisable in a certificate QR payload. The real format is unconfirmed (domain.md), so a
    field is taken only when its position and shape both fit the pipe-separated layout
    `code|serial|commune|sheet|parcel|area`; anything else leaves just the raw payload."""
    parts = payload.split("|")
    out: dict[str, Any] = {}
    if len(parts) >= 6:
        code, serial, commune, sheet, parcel, area = (p.strip() for p in parts[:6])
        if re.fullmatch(r"[0-9A-Z]{12}", code):
            out["certificate_code"] = code
        if re.fullmatch(r"[A-Z]{2} ?\d{6,8}", serial):
            out["certificate_serial"] = serial if " " in serial else f"{serial[:2]} {serial[2:]}"
        if re.fullmatch(r"\d{5}", commune):
            out["commune_code"] = commune
        if sheet.isdigit():
            out["map_sheet_number"] = int(sheet)
        if parcel.isdigit():
            out["parcel_number"] = int(parcel)
        value, _ = parse_area(area + " m")
        if value is not None:
            out["area_m2"] = float(value)
    return out


def _read_codes(
    t: _Text, pg: _Page, fields: dict[str, Evidence], form: str | None, warnings: list[str]
) -> dict[str, Any]:
    """Decode the page's QR (2024 form) and read the 12-character certificate code printed under it."""
    img = pg.colour if pg.colour is not None else pg.grey
    h = img.shape[0]
    # the QR is in the top-left corner of page 1; decoding only that quarter is cheaper and as good
    top = img[: int(h * 0.25), : int(img.shape[1] * 0.5)]
    codes = [c for c in decode_codes(top, qr_only=True) if c.format == "QRCode"]
    qr: dict[str, Any] = {}
    if codes:
        payload = codes[0].text
        box = codes[0].box
        fields["qr_payload"] = Evidence(
            "qr_payload",
            payload,
            (int(box[0] / pg.fx), int(box[1] / pg.fy), int(box[2] / pg.fx), int(box[3] / pg.fy)),
            ["qr"],
            1.0,
            1.0,
        )
        qr = _parse_qr(payload)
    m = re.search(r"ma\s*giay\s*chung\s*nhan\s*[:;.]?\s*", t.fold)
    cands: list[tuple[int, int]] = []
    if m:
        mm = _CODE_RE.search(t.raw.upper(), m.end(), m.end() + 20)
        if mm:
            cands.append((mm.start(), mm.end()))
    limit = len(t.raw) if m else t.raw.find("\n", t.raw.find("\n") + 1) + 1
    for mm in _CODE_RE.finditer(t.raw[: max(limit, 0) or len(t.raw)]):
        bx = t.box(mm.start(), mm.end())
        if bx is not None and bx[1] < h / pg.fy * 0.2:
            cands.append((mm.start(), mm.end()))
    if cands:
        s, e = cands[0]
        code = t.raw[s:e].upper()
        mean, low = t.stats(s, e)
        ev = Evidence("certificate_code", code, t.box(s, e), ["ocr"], mean, low, valid=True)
        fields["certificate_code"] = ev
    if "certificate_code" in qr:
        ev_c = fields.get("certificate_code")
        if ev_c is None:
            fields["certificate_code"] = Evidence("certificate_code", qr["certificate_code"], None, ["qr"], 1.0, 1.0)
        elif ev_c.value == qr["certificate_code"]:
            ev_c.agree += 1
            ev_c.sources.append("qr")
        else:
            warnings.append(f"certificate_code_qr_mismatch: printed {ev_c.value} vs QR {qr['certificate_code']}")
            ev_c.value, ev_c.sources, ev_c.disagree = qr["certificate_code"], ["qr"], 1
    return qr


def _apply_qr(fields: dict[str, Evidence], qr: dict[str, Any], warnings: list[str]) -> None:
    """The QR carries its own error correction: where it and the print agree both are right; where they
    differ the QR wins and the disagreement is a warning for review."""
    for name in ("certificate_serial", "map_sheet_number", "parcel_number", "area_m2"):
        if name not in qr:
            continue
        ev = fields.get(name)
        q = qr[name]
        if ev is None:
            fields[name] = Evidence(name, q, None, ["qr"], 1.0, 1.0, agree=1)
            continue
        same = abs(float(ev.value) - float(q)) < 0.05 if name == "area_m2" else ev.value == q
        if same:
            ev.agree += 1
            ev.sources.append("qr")
            ev.check = max(ev.check, 1)
        else:
            warnings.append(f"{name}_qr_mismatch: printed {ev.value} vs QR {q}")
            ev.value, ev.sources, ev.disagree, ev.check = q, ["qr"], 1, 0
            # the QR's own error correction vouches for its characters; the mismatch stays a warning
            ev.agree, ev.repaired, ev.ocr_conf, ev.min_conf = 1, False, 1.0, 1.0
            ev.valid = name != "certificate_serial" or bool(SERIAL_FORMATS["gcn_2024_qr"].fullmatch(str(q)))


# --- page readers -------------------------------------------------------------------------------------------


# labels a well-read page of each role shows (owner lines count for page 1)
_EXPECTED_LABELS = {"gcn_page1": 3, "gcn_page2": 7, "gcn_other": 1, "unknown": 1}


def _layout_score(t: _Text, role: str) -> int:
    score = sum(1 for pat in _P2_PATTERNS.values() if pat.search(t.fold))
    if role == "gcn_page1":
        starts = list(_OWNER_START.finditer(t.fold))
        ids = len(_ID.findall(t.fold))
        score = (3 if _OWNER_SECTION.search(t.fold) else 0) + min(len(starts), ids) + (score if score >= 5 else 0)
        return score if starts else min(score, 2)
    if role == "gcn_other":
        return int(bool(_CHANGES.search(t.fold))) + int(bool(re.search(r"so\s*do\s*thua\s*dat", t.fold)))
    return score


def _enhanced(pg: _Page) -> np.ndarray:
    """Greyscale for a second layout pass: red print and seals dropped (colour scans), then levels
    stretched so that the paper and a photocopied grey seal go white while the text stays black."""
    grey = red_dropout(pg.colour) if pg.colour is not None else pg.grey
    if pg.colour is not None and (pg.fx != 1.0 or pg.fy != 1.0):
        grey = cv2.resize(grey, (pg.grey.shape[1], pg.grey.shape[0]), interpolation=cv2.INTER_AREA)
    ink = grey[grey < 200]
    if ink.size < 1000:
        return grey
    black = float(np.percentile(ink, 2))
    white = max(black + 60.0, min(200.0, float(np.percentile(ink, 50))))
    return np.clip((grey.astype(np.float32) - black) * (255.0 / (white - black)), 0, 255).astype(np.uint8)


def _seal_boxes(pg: _Page) -> list[tuple[int, int, int, int]]:
    """Red stamps on the page (layout coordinates): round blobs of red ink, not the long red print lines."""
    if pg.colour is None:
        return []
    small = cv2.resize(pg.colour, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.int16)
    b, g, r = small[:, :, 0], small[:, :, 1], small[:, :, 2]
    mask = ((r - g > 50) & (r - b > 40) & (r > 110)).astype(np.uint8)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    _, _, stats, _ = components(closed)
    side = 0.06 * max(small.shape[:2])  # a seal is ~15-25% of the page width across
    boxes = []
    for x, y, w, h, area in stats[1:]:
        if w >= side and h >= side and 0.5 < w / h < 2.0 and area > 0.08 * w * h:
            boxes.append((int(x * 4 / pg.fx), int(y * 4 / pg.fy), int(w * 4 / pg.fx), int(h * 4 / pg.fy)))
    return boxes


def _reread_under_seals(ocr: TextPage, pg: _Page, seals: list[tuple[int, int, int, int]]) -> TextPage:
    """Lines a red seal covers are read again on the red channel, where the seal all but vanishes; a
    band's new reading replaces the old one when Tesseract is more confident in it."""
    lines = list(ocr.lines)
    for sx, sy, sw, sh in seals:
        hit = [
            ln
            for ln in lines
            if ln.box[1] < sy + sh and ln.box[1] + ln.box[3] > sy and ln.box[0] < sx + sw and ln.box[0] + ln.box[2] > sx
        ]
        if not hit and not _black_print_under(pg, (sx, sy, sw, sh)):
            continue  # red artwork over paper (the national emblem above the title): nothing to read again
        # no line under the seal may mean the layout pass gave up on the lines it covers
        y0 = max(0, min([ln.box[1] for ln in hit] + [sy]) - 6)
        y1 = max([ln.box[1] + ln.box[3] for ln in hit] + [sy + sh]) + 6
        band_lines = [ln for ln in lines if y0 <= ln.box[1] + ln.box[3] / 2 <= y1]
        fresh = _ocr_band(pg, y0, y1)
        old_conf = np.mean([w.confidence for ln in band_lines for w in ln.words]) if band_lines else 0.0
        new_conf = np.mean([w.confidence for ln in fresh for w in ln.words]) if fresh else 0.0
        old_chars = sum(len(ln.text) for ln in band_lines)
        new_chars = sum(len(ln.text) for ln in fresh)
        if fresh and new_conf >= max(old_conf - 0.02, 0.6) and new_chars >= 0.8 * old_chars:
            lines = [ln for ln in lines if ln not in band_lines] + fresh
    return TextPage.of_lines(lines)


# share of a seal's box that is black print once the red is dropped: 0.000 under the emblem and on bare
# paper, 0.005-0.06 where a seal covers text lines (measured on generated certificates of every form)
_PRINT_UNDER_SEAL = 0.002


def _black_print_under(pg: _Page, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    if pg.colour is None:
        return True
    crop = pg.colour[int(y * pg.fy) : int((y + h) * pg.fy), int(x * pg.fx) : int((x + w) * pg.fx)]
    return crop.size > 0 and float((red_dropout(crop) < 100).mean()) >= _PRINT_UNDER_SEAL


def _ocr_band(pg: _Page, y0: int, y1: int, psm: int = 6) -> list[Line]:
    """OCR one full-width horizontal band (layout coordinates), on the red channel when there is colour."""
    if pg.colour is not None:
        img = red_dropout(pg.colour[int(y0 * pg.fy) : int(y1 * pg.fy), :])
        fx, fy = pg.fx, pg.fy
    else:
        img = pg.grey[y0:y1, :]
        fx = fy = 1.0
    if img.size == 0:
        return []
    band = pg.reader.read(img, psm=psm)

    def move(b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return (int(b[0] / fx), int(b[1] / fy) + y0, int(b[2] / fx), int(b[3] / fy))

    out = []
    for line in band.lines:
        words = [w.model_copy(update={"box": move(w.box)}) for w in line.words]
        out.append(line.model_copy(update={"words": words, "box": move(line.box)}))
    return out


def _owner_score(owners: list[dict[str, Evidence]]) -> int:
    return sum(len(o) for o in owners)


def _owner_y(owner: dict[str, Evidence]) -> tuple[int, int] | None:
    """Where an owner's entry starts on the page: (top, height) of its name (or ID, or birth year) box."""
    for name in ("full_name", "id_number", "birth_year", "address"):
        ev = owner.get(name)
        if ev is not None and ev.box is not None:
            return ev.box[1], max(1, ev.box[3])
    return None


def _merge_owners(base: list[dict[str, Evidence]], other: list[dict[str, Evidence]]) -> list[dict[str, Evidence]]:
    """The owners of two readings of the section: `base`, plus those `other` found at a height where `base`
    has none (a co-owner whose title line one pass garbled and the other read), in page order."""
    ys = [y for o in base if (y := _owner_y(o)) is not None]
    merged = list(base)
    for o in other:
        oy = _owner_y(o)
        if oy is None or "full_name" not in o or "id_number" not in o:
            continue
        if all(abs(oy[0] - y) > 1.5 * max(h, oy[1]) for y, h in ys):
            merged.append(o)
            ys.append(oy)
    return sorted(merged, key=lambda o: (_owner_y(o) or (10**9, 0))[0])


def _rescue_owner_section(t: _Text, pg: _Page, ocr: TextPage) -> _Text | None:
    """The owner lines read again as one block (psm 6, seal dropped) when the layout pass lost some."""
    sec = _OWNER_SECTION.search(t.fold)
    H = pg.grey.shape[0]
    end = _OWNERS_END.search(t.fold, sec.end() if sec else 0)
    if end:
        y1 = t.lines[t.line_index(end.start())].box[1] - 2
    else:
        below = [ln.box[1] for ln in t.lines if ln.box[1] > 0.85 * H]
        y1 = min(below) - 4 if below else int(0.88 * H)
    if sec:
        head = t.lines[t.line_index(sec.start())].box
        y0 = head[1] + head[3] + 2
        unit = head[3]
    else:
        # the section heading was lost too: the owners are in the widest gap above the section's end
        above = sorted((ln.box for ln in t.lines if ln.box[1] + ln.box[3] < y1), key=lambda b: b[1])
        if not above:
            return None
        edges = [b[1] + b[3] for b in above]
        gaps = [(nxt - edge, edge) for edge, nxt in zip(edges, [b[1] for b in above[1:]] + [y1], strict=True)]
        y0 = int(max(gaps)[1]) + 2
        unit = int(np.median([b[3] for b in above]))
    if y1 - y0 < 2 * unit:
        return None
    fresh = _ocr_band(pg, y0, y1)
    kept = [ln for ln in ocr.lines if not (y0 <= ln.box[1] + ln.box[3] / 2 <= y1)]
    return _Text(_visual_lines(TextPage.of_lines(kept + fresh)))


def _rescue_parcel_section(t: _Text, pg: _Page, ocr: TextPage) -> _Text:
    """Page segmentation sometimes drops whole lines of the parcel section (low-resolution scans): when a
    label is missing, read the section again as one uniform block (psm 6) and keep the better reading."""
    found = [name for name, pat in _P2_PATTERNS.items() if pat.search(t.fold)]
    if len(found) == len(_P2_PATTERNS):
        return t
    starts = [m.start() for pat in _P2_PATTERNS.values() if (m := pat.search(t.fold))]
    if not starts:
        return t
    first = t.lines[t.line_index(min(starts))].box
    stop = _DATE_LINE.search(t.fold) or _REGISTRY.search(t.fold)
    y0 = max(0, first[1] - first[3])
    y1 = t.lines[t.line_index(stop.start())].box[1] - 4 if stop else int(pg.grey.shape[0] * 0.6)
    if y1 - y0 < 3 * max(first[3], 10):
        return t
    new_lines = _ocr_band(pg, y0, y1)
    kept = [ln for ln in ocr.lines if not (y0 <= ln.box[1] + ln.box[3] / 2 <= y1)]
    merged = TextPage.of_lines(kept + new_lines)
    candidate = _Text(_visual_lines(merged))
    found_again = [name for name, pat in _P2_PATTERNS.items() if pat.search(candidate.fold)]
    return candidate if len(found_again) > len(found) else t


def _read_parcel(
    t: _Text, pg: _Page, form: str | None, fields: dict[str, Evidence], warnings: list[str], start: int = 0
) -> None:
    vals = _label_values(t, _P2_PATTERNS, start)
    for name in ("parcel_number", "map_sheet_number"):
        if name in vals:
            ev = _read_int_field(t, pg, name, vals[name])
            if ev is not None:
                fields[name] = ev
    if "parcel_address" in vals:
        sl = vals["parcel_address"]
        mean, low = t.stats(sl.start, sl.end)
        text = _text_value(sl)
        if text:
            fields["parcel_address"] = Evidence(
                "parcel_address", canonical_address(text), t.box(sl.start, sl.end), ["ocr"], mean, low
            )
    if "area_m2" in vals:
        area_sl = vals["area_m2"]
        words_sl = vals.get("area_in_words")
        # the words sit inside the area's slice on the 2009 form: `96,3 m², (bằng chữ: ...)`
        area_ev, words_ev = _read_area(t, pg, area_sl, words_sl, warnings)
        if area_ev is not None:
            fields["area_m2"] = area_ev
        if words_ev is not None and words_ev.value:
            fields["area_in_words"] = words_ev
    for name in ("land_use_form", "land_use_term", "land_use_origin"):
        if name in vals:
            sl = vals[name]
            text = _text_value(sl)
            if text:
                mean, low = t.stats(sl.start, sl.end)
                fields[name] = Evidence(
                    name, _canonical_phrase(name, text), t.box(sl.start, sl.end), ["ocr"], mean, low
                )
    if "land_use_purpose" in vals:
        total = fields["area_m2"].value if "area_m2" in fields else None
        p_ev, c_ev = _read_purpose(t, vals["land_use_purpose"], form, total, warnings)
        fields["land_use_purpose"] = p_ev
        if c_ev.value:
            fields["land_use_code"] = c_ev


# standard phrases of the use-form, term and origin entries (Circular 23/2014, 10/2024)
_PHRASES: dict[str, tuple[str, ...]] = {
    "land_use_form": ("Sử dụng riêng", "Sử dụng chung"),
    "land_use_term": ("Lâu dài",),
    "land_use_origin": (
        "Nhà nước giao đất có thu tiền sử dụng đất",
        "Nhà nước giao đất không thu tiền sử dụng đất",
        "Nhà nước cho thuê đất trả tiền một lần cho cả thời gian thuê",
        "Nhà nước cho thuê đất trả tiền hàng năm",
        "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất",
        "Công nhận quyền sử dụng đất như giao đất không thu tiền sử dụng đất",
        "Nhận chuyển nhượng đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
        "Nhận thừa kế đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
        "Nhận tặng cho đất được Nhà nước giao đất có thu tiền sử dụng đất",
        "Nhận chuyển nhượng đất được Nhà nước giao đất không thu tiền sử dụng đất",
        "Nhận chuyển nhượng đất được Nhà nước giao đất có thu tiền sử dụng đất",
    ),
}


def _canonical_phrase(name: str, text: str) -> str:
    """Snap a standard entry to its legal wording when only tone marks/letters differ; keep the rest."""
    if name == "land_use_term":
        m = re.search(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})", text)
        if m and re.search(r"den\s*ngay", name_key(text).lower()):
            return f"Đến ngày {int(m.group(1)):02d}/{int(m.group(2)):02d}/{m.group(3)}"
    key = name_key(text)
    best, score = text, 0.0
    for phrase in _PHRASES.get(name, ()):
        s = fuzz.ratio(key, name_key(phrase))
        if s > score:
            best, score = phrase, s
    return best if score >= 92 else text


def _read_diagram(t: _Text, pg: _Page, fields: dict[str, Evidence]) -> None:
    """The parcel sketch (`III. Sơ đồ thửa đất`) labels the parcel with its number above its area; the
    neighbours' numbers around it are decoys, so only a number directly above an area counts."""
    head = re.search(r"so\s*do\s*thua\s*dat", t.fold)
    if not head:
        return
    if not _diagram_label(t, pg, fields):
        # page segmentation takes the sketch for a picture: read its region as sparse text
        top = t.lines[t.line_index(head.start())].box
        tail = _CHANGES.search(t.fold)
        y0 = top[1] + top[3] + 4
        y1 = t.lines[t.line_index(tail.start())].box[1] - 4 if tail else int(pg.grey.shape[0] * 0.55)
        if y1 - y0 > 100:
            sparse = _Text(_visual_lines(TextPage.of_lines(_ocr_band(pg, y0, y1, psm=11))))
            if not _diagram_label(sparse, pg, fields):
                _diagram_centre(pg, y0, y1, fields)


def _diagram_centre(pg: _Page, y0: int, y1: int, fields: dict[str, Evidence]) -> None:
    """Last resort: the label sits in the middle of the parcel's outline, the largest closed shape in the
    sketch (not its frame). Read the middle of that shape as a block."""
    band = pg.grey[y0:y1]
    ink = (band < 128).astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    H, W = band.shape
    shapes = [
        cv2.boundingRect(c)
        for c in contours
        if cv2.contourArea(c) > 0.02 * H * W and cv2.boundingRect(c)[2] < 0.9 * W and cv2.boundingRect(c)[3] < 0.9 * H
    ]
    if not shapes:
        return
    x, y, w, h = max(shapes, key=lambda b: b[2] * b[3])
    centre = (x + w // 4, y0 + y + h // 4, w // 2, h // 2)
    lines = [
        ln.model_copy(
            update={
                "words": [
                    wd.model_copy(update={"box": (wd.box[0] + centre[0], wd.box[1] + centre[1], wd.box[2], wd.box[3])})
                    for wd in ln.words
                ],
                "box": (ln.box[0] + centre[0], ln.box[1] + centre[1], ln.box[2], ln.box[3]),
            }
        )
        for ln in pg.reader.read(
            pg.grey[centre[1] : centre[1] + centre[3], centre[0] : centre[0] + centre[2]], psm=6
        ).lines
    ]
    _diagram_label(_Text(_visual_lines(TextPage.of_lines(lines))), pg, fields)


def _diagram_label(t: _Text, pg: _Page, fields: dict[str, Evidence]) -> bool:
    """The parcel's label in the sketch: a bare number right above `<area> m²` (word geometry, since the
    sparse reading strings neighbours' numbers on the same row into one line)."""
    words = t.words
    for i, w in enumerate(words):
        # the area may end in a misread digit (`57,b`): it only locates the label here
        if not re.fullmatch(r"\d[\d.,]*[0-9A-Za-z]?", w.text) or i + 1 >= len(words):
            continue
        unit = words[i + 1]
        # `m²` comes out as m2, m?, m°, mẽ ...: an `m` with at most one mark after it
        if not re.fullmatch(r"m\S?", unit.text) or abs(unit.box[1] - w.box[1]) > w.box[3]:
            continue
        ax, ay, aw, ah = _union([w.box, unit.box])
        cx = ax + aw / 2
        above = [
            v
            for v in words
            if re.fullmatch(r"\d{1,5}", v.text)
            and v.box[1] + v.box[3] <= ay + 2
            and ay - (v.box[1] + v.box[3]) < 3 * ah
            and abs(v.box[0] + v.box[2] / 2 - cx) < aw / 2
        ]
        if not above:
            continue
        label = max(above, key=lambda v: v.box[1])
        number = int(label.text)
        ev = Evidence("parcel_number", number, label.box, ["ocr", "diagram"], label.conf, label.conf)
        text, _, _ = pg.read(label.box, whitelist=DIGITS)
        if text.strip() == str(number):
            ev.agree += 1
            ev.sources.append("reread")
        fields["parcel_number"] = ev
        area, _ = parse_area(f"{w.text} m") if re.fullmatch(r"\d[\d.,]*", w.text) else (None, False)
        if area is not None:
            fields["area_m2"] = Evidence("area_m2", float(area), (ax, ay, aw, ah), ["ocr", "diagram"], w.conf, w.conf)
        return True
    return False


def _read_barcode(pg: _Page, fields: dict[str, Evidence]) -> None:
    """The barcode on the last page of the 2009 form: [2-digit province code] + 5-digit commune code +
    2-digit issue year + 6-digit file number (domain.md). Its check digits make a decode trustworthy."""
    img = pg.colour if pg.colour is not None else pg.grey
    for code in decode_codes(img):
        digits = code.text.strip()
        if code.format == "QRCode" or not re.fullmatch(r"\d{13}|\d{15}", digits):
            continue
        box = tuple(int(v) for v in code.box)
        layout_box = (int(box[0] / pg.fx), int(box[1] / pg.fy), int(box[2] / pg.fx), int(box[3] / pg.fy))
        body = digits[2:] if len(digits) == 15 else digits
        fields["barcode"] = Evidence("barcode", digits, layout_box, ["barcode"], 1.0, 1.0, agree=1)
        fields["barcode_commune_code"] = Evidence(
            "barcode_commune_code", body[:5], layout_box, ["barcode"], 1.0, 1.0, agree=1
        )
        year = int(body[5:7])
        full_year = 2000 + year if year <= date.today().year % 100 else 1900 + year
        fields["barcode_issue_year"] = Evidence(
            "barcode_issue_year", full_year, layout_box, ["barcode"], 1.0, 1.0, agree=1
        )
        return


# a word of a recorded change: a Vietnamese syllable (at most 7 letters) or a number, date, file number
_ROW_TOKEN = re.compile(r"[(\"']?(?:[^\W\d_]{1,7}|\d[\d/.,\-]*)[)\"':;,.]?")
_ROW_TOKEN_CONF = 0.5


def _read_changes(t: _Text, fields: dict[str, Evidence], warnings: list[str]) -> None:
    """Rows recorded under `IV. Những thay đổi sau khi cấp Giấy chứng nhận` (or `6.` on the 2024 form)."""
    m = _CHANGES.search(t.fold)
    if not m:
        return
    li = t.line_index(m.start())
    rows: list[str] = []
    confs: list[float] = []
    boxes = []
    for line in t.lines[li + 1 :]:
        key = name_key(line.text)
        if re.search(r"NOI DUNG THAY DOI|CO SO PHAP LY|XAC NHAN CUA|CO THAM QUYEN|MA GIAY CHUNG NHAN", key):
            continue
        if len(re.sub(r"[^A-Z0-9]", "", key)) < 6:
            continue  # table rules and specks
        if "CHUNG NHAN" in key and _CODE_RE.search(line.text):
            continue  # the 2024 form's `Mã Giấy chứng nhận: ...` below the table, its label half read
        if sum(bool(_ROW_TOKEN.fullmatch(w.text)) and w.conf >= _ROW_TOKEN_CONF for w in line.words) < 3:
            # a table rule or a seal read as letters: an entry is a sentence of syllables and numbers, and
            # the recogniser is sure of some of them (photocopy speckle reads as `L7 T7 7 1L` at 0.0-0.4)
            continue
        rows.append(line.text)
        confs += [w.conf for w in line.words]
        boxes.append(line.box)
    if rows:
        fields["changes"] = Evidence("changes", rows, _union(boxes), ["ocr"], float(np.mean(confs)), float(min(confs)))
        warnings.append(
            f"certificate_changes_recorded: {len(rows)} line(s) under the changes section; page 1/2 values may be superseded"
        )


# --- entry points -------------------------------------------------------------------------------------------


def extract_gcn(
    page: NormalisedPage,
    ocr: TextPage | None = None,
    settings: Settings | None = None,
    *,
    doc_type: str | None = None,
    reader: Reader | None = None,
) -> Document:
    """Read one certificate page (see the module docstring for the contract)."""
    return extract_gcn_detailed(page, ocr, settings, doc_type=doc_type, reader=reader)[0]


def extract_gcn_detailed(
    page: NormalisedPage,
    ocr: TextPage | None = None,
    settings: Settings | None = None,
    *,
    doc_type: str | None = None,
    reader: Reader | None = None,
) -> tuple[Document, dict[str, Evidence]]:
    settings = settings or get_settings()
    pg = _Page.of(page, reader or TesseractReader(settings.tesseract_lang))
    if ocr is None:
        ocr = pg.reader.read(pg.grey, psm=3)
    seals = _seal_boxes(pg)
    if seals:
        ocr = _reread_under_seals(ocr, pg, seals)
    t = _Text(_visual_lines(ocr))
    h = pg.grey.shape[0]
    role, role_conf = _page_role(t, doc_type)
    if _layout_score(t, role) < _EXPECTED_LABELS.get(role, 3):
        # the layout pass lost much of the page (photocopy speckle, a grey seal, low contrast): once more
        # on a contrast-stretched, seal-dropped image, kept only if it finds more of the form's labels
        better = pg.reader.read(_enhanced(pg), psm=3)
        t2 = _Text(_visual_lines(better))
        role2, conf2 = _page_role(t2, doc_type)
        if _layout_score(t2, role2) > _layout_score(t, role):
            ocr, t, role, role_conf = better, t2, role2, conf2
    form, form_conf = detect_form(t.raw)
    if form == "gcn_2024_qr" and role == "gcn_page2":
        role = "gcn_page1"  # the 2024 form prints the parcel on page 1 (its page 2 is sketch and changes)
    if role in ("gcn_page2", "gcn_page1") and (role == "gcn_page2" or form == "gcn_2024_qr"):
        t = _rescue_parcel_section(t, pg, ocr)
    warnings: list[str] = []
    fields: dict[str, Evidence] = {}
    owners: list[dict[str, Evidence]] = []
    if role == "gcn_page1":
        qr: dict[str, Any] = {}
        if form == "gcn_2024_qr" or form is None:
            qr = _read_codes(t, pg, fields, form, warnings)
            if qr and form is None:
                form, form_conf = "gcn_2024_qr", 0.9
        serial = _read_serial(t, pg, form, h)
        if serial is not None:
            fields["certificate_serial"] = serial
        owners = _read_owners(t, pg, form, warnings)
        # signs of a degraded owner section: an address that ran into a co-owner's lines, a title misread
        garbled = any(
            (o.get("address") is not None and o["address"].repaired) or "relationship" not in o for o in owners
        )
        if garbled or not owners or any("full_name" not in o or "id_number" not in o for o in owners):
            rescued = _rescue_owner_section(t, pg, ocr)
            if rescued is not None:
                more: list[str] = []
                again = _read_owners(rescued, pg, form, more)
                if _owner_score(again) > _owner_score(owners):
                    owners, t, again = _merge_owners(again, owners), rescued, owners
                    warnings += more
                else:
                    owners = _merge_owners(owners, again)
        if form == "gcn_2024_qr" or _P2_PATTERNS["parcel_number"].search(t.fold):
            sec = _OWNER_SECTION.search(t.fold)
            parcel_start = re.compile(r"thong\s*tin\s*thua\s*dat").search(t.fold, sec.end() if sec else 0)
            _read_parcel(t, pg, form, fields, warnings, parcel_start.start() if parcel_start else 0)
            _read_signature_block(t, pg, fields, warnings)
        if qr:
            _apply_qr(fields, qr, warnings)
        if not owners:
            warnings.append("no_owner_found: page 1 without a readable owner line")
    elif role == "gcn_page2":
        _read_parcel(t, pg, form, fields, warnings)
        _read_signature_block(t, pg, fields, warnings)
    elif role == "gcn_other":
        _read_changes(t, fields, warnings)
        _read_diagram(t, pg, fields)
        _read_barcode(pg, fields)
        m = re.search(r"ma\s*giay\s*chung\s*nhan\s*[:;.]?\s*", t.fold)
        if m:
            mm = _CODE_RE.search(t.raw.upper(), m.end(), m.end() + 20)
            if mm:
                fields["certificate_code"] = Evidence(
                    "certificate_code",
                    mm.group(1),
                    t.box(mm.start(), mm.end()),
                    ["ocr"],
                    *t.stats(mm.start(), mm.end()),
                )
    if form is not None:
        fields["certificate_form"] = Evidence("certificate_form", form, None, ["layout"], form_conf, form_conf)
        _check_form(fields, form, warnings)
    doc = Document(
        source=page.source,
        page=page.page,
        sha256=page.sha256,
        part=page.part,
        doc_type=role,
        doc_type_confidence=round(role_conf, 3),
        orientation_deg=page.orientation_deg,
        skew_deg=page.skew_deg,
        warnings=list(page.warnings) + warnings,
        quality_score=page.quality.score if page.quality else None,
    )
    _flag_handwriting(pg, fields, owners, warnings, [ln.box for ln in t.lines])
    doc.warnings += [w for w in warnings if w not in doc.warnings]
    evidence: dict[str, Evidence] = {}
    for name, ev in fields.items():
        if ev.value is None and name != "changes":
            continue
        doc.fields[name] = _fv(ev, name)
        evidence[name] = ev
    for i, owner in enumerate(owners):
        row: dict[str, FieldValue] = {}
        for name, ev in owner.items():
            if ev.value is None and name != "id_number":
                continue
            row[name] = _fv(ev, f"owner.{name}")
            evidence[f"owners[{i}].{name}"] = ev
        doc.owners.append(row)
    return doc, evidence


_PRINTED_ONLY = frozenset({"certificate_serial", "qr_payload", "certificate_form", "issuing_authority", "changes"})


def _flag_handwriting(
    pg: _Page,
    fields: dict[str, Evidence],
    owners: list[dict[str, Evidence]],
    warnings: list[str],
    lines: list[tuple[int, int, int, int]],
) -> None:
    """Old forms were often filled in by hand, in ballpoint ink: such a value is flagged and its confidence
    capped instead of trusting a print-trained recogniser's guess. Only colour scans show the ink."""
    if pg.colour is None:
        return
    items = [(name, ev) for name, ev in fields.items()] + [
        (f"owner {i + 1} {name}", ev) for i, owner in enumerate(owners) for name, ev in owner.items()
    ]
    crops = []
    for label, ev in items:
        if ev.box is None or label in _PRINTED_ONLY or "qr" in ev.sources:
            continue
        x, y, w, h = ev.box
        crop = pg.colour[int(y * pg.fy) : int((y + h) * pg.fy), int(x * pg.fx) : int((x + w) * pg.fx)]
        if crop.size:
            crops.append((label, ev, crop))
    # what black print looks like on this scan: the median tint of the text lines (labels and titles are
    # printed even where every value was written in), not of the whole page, where a photo's background
    # (a wooden table) would set it
    tints = [
        ink_tint(pg.colour[int(y * pg.fy) : int((y + h) * pg.fy), int(x * pg.fx) : int((x + w) * pg.fx)])
        for x, y, w, h in lines
        if w > 0 and h > 0
    ]
    tints = [tn for tn in tints if tn != (0.0, 0.0)]
    if len(tints) >= 3:
        baseline = (float(np.median([tn[0] for tn in tints])), float(np.median([tn[1] for tn in tints])))
    else:
        H, W = pg.colour.shape[:2]
        baseline = ink_tint(pg.colour[int(H * 0.05) : int(H * 0.9) : 2, int(W * 0.05) : int(W * 0.95) : 2])
    for label, ev, crop in crops:
        if pen_ink_fraction(crop, baseline) > 0.4:
            ev.handwritten = True
            warnings.append(f"handwritten_entry: {label} looks written in by hand; check it on the scan")


def _check_form(fields: dict[str, Evidence], form: str, warnings: list[str]) -> None:
    serial = fields.get("certificate_serial")
    if serial is not None and isinstance(serial.value, str) and not SERIAL_FORMATS[form].fullmatch(serial.value):
        serial.valid = False
        serial.check = -1
        warnings.append(f"serial_format_mismatch: {serial.value!r} is not a {form} serial")
    issue = fields.get("issue_date")
    if issue is not None and issue.value:
        d = date.fromisoformat(issue.value)
        lo, hi = FORM_YEARS[form]
        if not lo <= d <= hi:
            issue.check = -1
            warnings.append(
                f"issue_date_outside_form_years: {d.isoformat()} is outside {form} ({lo.year}-{hi.year if hi.year < 2100 else ''})"
            )
        elif d > date.today():
            issue.check = -1
            warnings.append(f"issue_date_in_future: {d.isoformat()}")
        else:
            issue.check = 1


def cross_check_certificate(documents: list[Document]) -> None:
    """Submission-level checks between the pages of one certificate: one form throughout, and owners' ID
    numbers on page 1 against the ID cards in the same submission (warnings only)."""
    gcn = [d for d in documents if d.doc_type.startswith("gcn")]
    forms = {d.value("certificate_form") for d in gcn if d.value("certificate_form")}
    if len(forms) > 1:
        for d in gcn:
            d.warnings.append(f"certificate_form_differs_between_pages: {sorted(forms)}")
    card_ids = {
        d.value("id_number") for d in documents if d.doc_type.startswith(("cccd", "cmnd")) and d.value("id_number")
    }
    old_ids = {d.value("old_id_number") for d in documents if d.value("old_id_number")}
    if not card_ids:
        return
    for d in gcn:
        ids = [o["id_number"] for o in d.owners if o.get("id_number") is not None and o["id_number"].value]
        matched = False
        for fv in ids:
            if fv.value in card_ids | old_ids:
                matched = True
                fv.sources = sorted({*fv.sources, "id_card"})
                fv.confidence = max(fv.confidence, 0.99)
        if ids and not matched:
            d.warnings.append(
                "owner_id_not_on_card: no owner's id number on the certificate equals an ID card's in this submission"
            )
