"""The card number and the dates: every reading of them (the layout pass, whitelisted re-reads of the
region, a second colour channel), each with what its structure says about it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import numpy as np

from models import fields as F
from models.elements import Line, TextPage, Word, union
from worker.extract import validate as v
from worker.extract.idcard.evidence import Reading
from worker.extract.idcard.labels import LABELS, find_label, lines_below, strip_tail
from worker.extract.idcard.regions import (
    DATE_CHARS,
    DIGITS,
    GUESSED,
    RETRIES,
    TO_DIGIT,
    crop_box,
    letters_mapped,
    line_stats,
    read_region,
    red_ink_span,
)
from worker.extract.lines import visual_lines
from worker.ocr import Reader
from worker.vntext import name_key


def _digit_runs(lines: list[Line], length: int) -> list[tuple[str, Word | None, Line]]:
    out: list[tuple[str, Word | None, Line]] = []
    for line in lines:
        for w in line.words:
            d = re.sub(r"\D", "", w.text.translate(TO_DIGIT))
            if len(d) == length:
                out.append((d, w, line))
        joined = re.sub(r"\s", "", line.text.translate(TO_DIGIT))
        for m in re.finditer(rf"(?<!\d)\d{{{length}}}(?!\d)", joined):
            if not any(m.group(0) == o[0] for o in out):
                out.append((m.group(0), None, line))
    return out


def _near_runs(lines: list[Line], length: int) -> list[tuple[str, Word | None, Line]]:
    """A word of digits one or two longer or shorter than the number (a bold 3 read as `35`, a digit lost):
    no reading, but where the number is for the re-reads of its box. (Only for the 12-digit number: a
    9-digit one is as long as a date written without separators.)"""
    out: list[tuple[str, Word | None, Line]] = []
    for line in lines:
        for w in line.words:
            text = w.text.strip(".,:;")
            d = re.sub(r"\D", "", text.translate(TO_DIGIT))
            if len(d) != length and abs(len(d) - length) <= 2 and len(d) >= 0.9 * len(text):
                out.append(("", w, line))
    return out


def read_id_number(
    reader: Reader,
    img: np.ndarray,
    layout: TextPage,
    generation: str,
    colour: np.ndarray | None = None,
    *,
    reread: bool = True,
) -> list[Reading]:
    """The number's readings: the layout pass's and, with `reread`, its box read again (card.py leaves
    the re-reads out where a decoded QR code gives the number)."""
    length = 9 if generation == "cmnd_9" else 12
    runs = _digit_runs(layout.lines, length) or (_near_runs(layout.lines, length) if length == 12 else [])
    if not runs:
        # the number may have been split or garbled: try the line after the label
        hit = find_label(layout.lines, LABELS[F.ID_NUMBER])
        if hit is None:
            return []
        words = strip_tail(hit.value_words) or [
            w
            for ln in lines_below(layout.lines, hit.label_box, exclude=hit.line, max_lines=1, own=LABELS[F.ID_NUMBER])
            for w in ln.words
        ]
        if not words:
            return []
        runs = [("", None, Line(text="", confidence=0.0, box=union(w.box for w in words), words=words))]
    number, word, line = runs[0]
    box = word.box if word is not None else line.box
    readings: list[Reading] = []
    if number:
        conf = word.confidence if word else line.confidence
        first = id_reading(number, "layout", conf, 0.0, length, box)
        # on real captures the layout pass, which sees the number in its line, read it right where both
        # re-reads of its box agreed on a wrong digit five times for once the other way round: a whole
        # number it read outweighs the two re-reads together, not the three with the `eng` reading (a dissent
        # still keeps it below 0.9)
        if first.valid:
            first.extra["weight"] = first.extra.get("weight", 1.0) * 2.5
        readings.append(first)
    if reread:
        readings += _reread_number(reader, img, colour, box, generation, length, number)
    return readings


def _reread_number(
    reader: Reader,
    img: np.ndarray,
    colour: np.ndarray | None,
    box: tuple[int, int, int, int],
    generation: str,
    length: int,
    number: str,
) -> list[Reading]:
    """The number's box read again: digits only in word mode, by the `eng` model, and (unless those two and
    the layout pass's `number` agree) from the green channel."""
    readings: list[Reading] = []
    # single-word mode: with a whitelist, line mode (psm 7) sometimes doubles a digit (1918538901)
    r = read_region(reader, img, box, whitelist=DIGITS, psm=8)
    digits = re.sub(r"\D", "", r.text)
    for retry in RETRIES:
        if len(digits) == length:
            break
        r2 = read_region(reader, img, box, whitelist=DIGITS, **retry)
        if len(d := re.sub(r"\D", "", r2.text)) == length:
            r, digits = r2, d
    mean, mn = line_stats(r)
    if digits:
        readings.append(id_reading(digits, "ocr", mean, mn, length, box))
    eng = _eng_reading(reader, img, colour, box, generation, length)
    if colour is not None and colour.ndim == 3 and not settled(number, digits, eng, length):
        alt = _green_reading(reader, colour, box, length)
        if alt is not None:
            readings.append(alt)
    if eng is not None:
        readings.append(eng)
    return readings


def settled(layout: object, ocr: object, eng: Reading | None, length: int | None = None) -> bool:
    """The layout pass, the whitelisted re-read and the `eng` model (the other recogniser) read the same
    whole value: a fourth reading by `vie` of the same pixels could dissent only by misreading them, and
    would be outvoted three to one, so it is not made."""
    whole = ocr is not None and (length is None or len(str(ocr)) == length)
    return whole and layout == ocr and eng is not None and eng.valid and eng.value == ocr


def _green_reading(reader: Reader, colour: np.ndarray, box: tuple[int, int, int, int], length: int) -> Reading | None:
    """The number from the green channel, where the red ink of older cards is darkest, without a whitelist:
    the two `vie` re-reads then fail in different ways, and the vote settles a disagreement."""
    r = read_region(reader, colour[:, :, 1], box, psm=8)
    digits = re.sub(r"\D", "", r.text.translate(TO_DIGIT))
    if not digits:
        return None
    mean, mn = line_stats(r)
    token = max(re.findall(r"\S+", r.text) or [""], key=len)
    rd = id_reading(digits, "ocr_alt", mean, mn, length, box)
    if letters_mapped(token):
        rd.extra["weight"] = rd.extra.get("weight", 1.0) * GUESSED
    return rd


# on the 2016 card's red face `vie` misread a digit of the number on every real capture with a 3 or a 6 in it
# (3 as 5, 6 as 4), and every `vie` reading of those pixels repeated the misread, layout pass included;
# `eng` reading the red ink alone read all five right. Its reading there outweighs the `vie` readings
# together (the layout pass's 2.5, the two re-reads' 1 each); the dissent keeps the value below 0.9
RED_FACE_ENG = 5.0


def _eng_reading(
    reader: Reader,
    img: np.ndarray,
    colour: np.ndarray | None,
    box: tuple[int, int, int, int],
    generation: str,
    length: int,
) -> Reading | None:
    """The number read by the other recogniser (`eng`, digits only), which fails differently from `vie`:
    a third independent reading, so that the layout pass and the two re-reads no longer split two to one
    with the layout pass's weight deciding, and on a typed CMND, whose re-reads each slip somewhere else,
    one that gives their per-digit majority (vote.add_consensus). On the 2016 card it reads the red ink
    alone (the green channel, where red is darkest, of the columns the red ink spans: the label glued to
    the number left out)."""
    r = None
    red = False
    if generation == "cccd_barcode_2016" and colour is not None and colour.ndim == 3:
        x, y, w, h = box
        crop = crop_box(colour, (x - 2 * h, y, w + 3 * h, h))  # the number may start left of the word box
        span = red_ink_span(crop) if crop.size else None
        if span is not None:
            r = reader.read_line(crop[:, span[0] : span[1], 1], psm=7, lang="eng", whitelist=DIGITS)
            # red ink that is not the number (a warm cast, a card of another generation taken for this one,
            # whose red is its title): the word box as for every other card
            red = len(re.sub(r"\D", "", r.text)) == length
    if r is None or not red:
        r = read_region(reader, img, box, whitelist=DIGITS, psm=7, lang="eng")
    digits = re.sub(r"\D", "", r.text)
    if not digits:
        return None
    mean, mn = line_stats(r)
    rd = id_reading(digits, "ocr_eng", mean, mn, length, box)
    if red and rd.valid:
        rd.extra["weight"] = rd.extra.get("weight", 1.0) * RED_FACE_ENG
    return rd


def id_reading(digits: str, source: str, mean: float, mn: float, length: int, box: tuple[int, ...]) -> Reading:
    """A number reading with what its structure says: a 12-digit number whose century/sex digit is above 5
    cannot be right; one whose province code is unknown can (2025 mergers; a 9-digit prefix beyond the
    list), but is less likely a good read."""
    valid = len(digits) == length
    extra: dict[str, float] = {}
    if valid and length == 12:
        if int(digits[3]) > 5:
            valid = False
        elif digits[:3] not in v.PROVINCE_CODES:
            extra["weight"] = 0.5
    elif valid and digits[:2] not in v.CMND9_PREFIXES:
        extra["weight"] = 0.5
    return Reading(digits, source, mean, mn, valid, list(box), extra)


_LOOSE_DATE = re.compile(r"(?<!\d)(\d{1,2})\D{1,3}(\d{1,2})\D{1,3}(\d{4})(?!\d)")


def date_in(text: str) -> date | None:
    """A day-first date in OCR text, tolerating odd separators (`27=9B-1977`) and letter/digit confusions;
    None for a year no card can carry (4955 is a misread 1955, not a date)."""
    t = text.translate(TO_DIGIT)
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
    m = _LOOSE_DATE.search(text.translate(TO_DIGIT))
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
            d = date_in(line.text)
            if d is not None:
                return [Reading(d.isoformat(), "layout", line.confidence, valid=True, box=list(line.box))]
    region = img[int(0.8 * h) :, : int(0.3 * w)]
    text = " ".join(reader.read_line(region, psm=6, scale=1.5).text.split())
    d = date_in(text)
    if d is not None:
        return [Reading(d.isoformat(), "ocr", 0.8, valid=True, box=[0, int(0.8 * h), int(0.3 * w), h - int(0.8 * h)])]
    if _NO_EXPIRY.search(name_key(text)):
        return [Reading(None, "ocr", 0.8, valid=True, extra={"no_expiry": 1.0})]
    # a card photographed with its surroundings, or stretched to a square frame, puts the expiry higher and
    # further right than a tight crop: a wider band read as sparse text, any date in it that is not one the
    # layout pass saw elsewhere (the birth date); the expiry rule then checks what it found
    top, right = int(0.7 * h), int(0.45 * w)
    seen = {d for line in layout.lines if (d := date_in(line.text)) is not None}
    found = reader.read_line(img[top:, :right], psm=11, scale=1.5).text
    d = date_in(found)
    if d is not None and d not in seen:
        return [Reading(d.isoformat(), "ocr", 0.6, valid=True, box=[0, top, right, h - top])]
    if _NO_EXPIRY.search(name_key(found)):
        return [Reading(None, "ocr", 0.6, valid=True, extra={"no_expiry": 1.0})]
    return []


def read_date_field(
    reader: Reader, img: np.ndarray, layout: TextPage, name: str, *, reread: bool = True
) -> list[Reading]:
    """The date's readings: the layout pass's after its label and, with `reread`, its box read again (card.py
    leaves the re-reads out where a decoded QR code gives the date)."""
    hit = find_label(layout.lines, LABELS[name])
    if hit is None:
        if name == F.DATE_OF_EXPIRY:
            return _expiry_under_photo(reader, img, layout)
        return _any_date(img, layout, earliest=True) if name == F.DATE_OF_BIRTH else []
    candidates_lines = [
        hit.line,
        *lines_below(layout.lines, hit.label_box, exclude=hit.line, max_lines=3, own=LABELS[name]),
    ]
    for i, line in enumerate(candidates_lines):
        words = strip_tail(hit.value_words) if i == 0 else line.words
        text = " ".join(w.text for w in words)
        if name == F.DATE_OF_EXPIRY and _NO_EXPIRY.search(name_key(text)):
            return [Reading(None, "layout", line.confidence, valid=True, box=list(line.box), extra={"no_expiry": 1.0})]
        date_words = [w for w in words if re.search(r"\d", w.text.translate(TO_DIGIT))]
        if sum(ch.isdigit() for w in date_words for ch in w.text.translate(TO_DIGIT)) < 6:
            continue
        # the layout pass garbles separators and digits (`Ø3 -96-1993`): the region's re-read decides
        d = date_in(text)
        box = union(w.box for w in date_words)
        out = [Reading(d.isoformat() if d else None, "layout", line.confidence, valid=d is not None, box=list(box))]
        # a date is one token: word mode reads it best (line mode doubles or drops digits); a second
        # reading in raw-line mode without a whitelist fails differently, and the vote settles conflicts
        if reread:
            out += _reread_date(reader, img, box, d)
        return out
    if name == F.DATE_OF_EXPIRY:
        return _expiry_under_photo(reader, img, layout)
    return _any_date(img, layout, earliest=True) if name == F.DATE_OF_BIRTH else []


def _reread_date(reader: Reader, img: np.ndarray, box: tuple[int, int, int, int], layout: date | None) -> list[Reading]:
    """A date is one token: word mode with the date alphabet reads it best (line mode doubles or drops
    digits), retried with other settings when what it reads is no date; a second reading in raw-line
    mode without a whitelist and a third by the `eng` model fail differently, and the vote settles
    conflicts. The raw-line reading is left out when the other two and the layout pass (`layout`, its
    date) read the same date (`settled`)."""
    first = _reread_date_as(reader, img, box, "ocr", {"whitelist": DATE_CHARS, "psm": 8})
    # the other recogniser, which slips on other digits than `vie` (as for the card number)
    eng = _reread_date_as(reader, img, box, "ocr_eng", {"whitelist": DATE_CHARS, "psm": 8, "lang": "eng"})
    layout_value = layout.isoformat() if layout is not None else None
    if settled(layout_value, first.value, eng):
        return [first, eng]
    return [first, _reread_date_as(reader, img, box, "ocr_alt", {"psm": 13}), eng]


def _reread_date_as(
    reader: Reader, img: np.ndarray, box: tuple[int, int, int, int], source: str, kw: dict[str, Any]
) -> Reading:
    """One re-read of a date's box with the settings of `source` (the whitelisted one retried with others
    when it reads no date)."""
    r = read_region(reader, img, box, **kw)
    d2 = date_in(r.text)
    if source == "ocr" and d2 is None:
        for retry in RETRIES:
            r2 = read_region(reader, img, box, whitelist=DATE_CHARS, **retry)
            if (d2 := date_in(r2.text)) is not None:
                r = r2
                break
    mean, mn = line_stats(r)
    if d2 is not None and _was_repaired(r.text):
        mean, mn = mean * 0.5, mn * 0.5  # a repaired date is a guess the confidence must show
    rd = Reading(d2.isoformat() if d2 else None, source, mean, mn, d2 is not None, list(box))
    m = _LOOSE_DATE.search(r.text.translate(TO_DIGIT))
    if d2 is not None and letters_mapped(r.text[m.start() : m.end()] if m else r.text):
        rd.extra["weight"] = GUESSED  # `11-OB-1991`: the B was a 5, not an 8
    return rd


def _any_date(img: np.ndarray, layout: TextPage, *, earliest: bool) -> list[Reading]:
    """The label was not found: a front's birth date is its earliest date (expiry and issue come later)."""
    found = [(d, line) for line in layout.lines if line.text.count("<") < 3 and (d := date_in(line.text)) is not None]
    if not found:
        return []
    d, line = min(found, key=lambda t: t[0]) if earliest else max(found, key=lambda t: t[0])
    return [Reading(d.isoformat(), "layout", line.confidence * 0.8, valid=True, box=list(line.box))]


def read_issue_date_words(layout: TextPage) -> list[Reading]:
    """`Ngày 13 tháng 09 năm 2020` on the older backs."""
    for line in visual_lines(layout.lines):
        key = name_key(line.text).replace(" ", "")  # a word split in two (`t háng`) still spells the label
        m = re.search(
            r"NG[A-Z]{0,3}\W*([\dOIlSB]{1,2})\W*[A-Z]{1,5}\W*([\dOIlSB]{1,2})\W*N[A-Z]{0,2}\W*([\dOIlSB]{4})", key
        )
        if m:
            day, month, year = (int(g.translate(TO_DIGIT)) for g in m.groups())
            d = v.make_date(year, month, day)
            return [
                Reading(
                    d.isoformat() if d else None, "layout", line.confidence, valid=d is not None, box=list(line.box)
                )
            ]
    # the backs print one date besides the MRZ: take a lone day-first date anywhere on the card
    for line in layout.lines:
        if line.text.count("<") < 3 and (d := date_in(line.text)) is not None:
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
