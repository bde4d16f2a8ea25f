"""Numbers on a certificate: integers whose digits OCR mixed with letters, the area in digits and in
words (cross-checked: words are an independent rendering of the number), birth years."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from models import fields as F
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.images import PageImages
from worker.extract.gcn.text import PageText, Slice, text_value
from worker.extract.numwords import repair_token, words_value
from worker.ocr.confusions import digit_translation, letter_translation
from worker.vntext import clean, name_key

DIGITS = "0123456789"
SERIAL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
# letters and specks read where certificate print has a digit, and the other way round
DIGIT_FIX = digit_translation("certificate")
ALPHA_FIX = letter_translation("certificate")


def to_int(token: str) -> tuple[int | None, bool]:
    """Leading integer of a token, mapping digit look-alikes (O→0, l→1); (value, repaired?)."""
    m = re.match(r"\s*([0-9OoDQIli|!ZSsBG]{1,6})", token)
    if not m:
        return None, False
    raw = m.group(1)
    if not any(c.isdigit() for c in raw):
        return None, False  # a word, not a number with a misread digit
    fixed = raw.translate(DIGIT_FIX)
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
    s = re.sub(r"\s+", "", raw).translate(DIGIT_FIX).rstrip(".,")
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


def fmt_area(value: Decimal | float) -> str:
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

    A word already spelled validly is kept (`bẩy`, `một` after mươi); position alone decides mười vs mươi,
    both valid words: tens after a digit word (`sáu mươi`), ten anywhere else (`mười lăm`, `trăm mười`)."""
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
        if key == "muoi":
            best = "mươi" if prev_key in _DIGIT_KEYS - {"khong"} else "mười"
        elif lower in spellings:
            best = lower
        elif key == "mot":
            best = "mốt" if prev_key == "muoi" and len(out) >= 2 and out[-1] == "mươi" else "một"
        else:
            best = spellings[0]
        if core[:1].isupper():
            best = best[:1].upper() + best[1:]
        # a speck glued to a number word (`phái:`) is no part of the amount
        out.append(best)
        prev_key = key
    return " ".join(out)


def year_ok(year: int | None) -> bool:
    return year is not None and 1880 <= year <= date.today().year


# a parcel numbered by its building (an apartment block's lot: letters then digits, `CT8`), as printed
_LOT = re.compile(r"\s*([A-Z]{1,3}[0-9]{1,4}[A-Z]?)(?![\w])")


def _read_lot(t: PageText, pg: PageImages, name: str, sl: Slice) -> Evidence | None:
    m = _LOT.match(sl.raw)
    if not m or name != F.PARCEL_NUMBER:
        return None
    s, e = sl.start + m.start(1), sl.start + m.end(1)
    mean, low = t.stats(s, e)
    box = t.tight_box(s, e)
    ev = Evidence(name, m.group(1), box, ["ocr"], mean, low)
    if box is not None:
        text, _, _ = pg.read(box, whitelist=SERIAL_CHARS, lang="eng")
        if text.replace(" ", "") == ev.value:
            ev.agree, ev.sources = 1, ["ocr", "reread"]
        else:
            ev.disagree = 1
    return ev


# a commune's cadastral map has at most a few hundred sheets, a sheet a few thousand parcels: a larger number
# is digits run together or a speck read as one, and is not reported as certain
_PLAUSIBLE = {F.MAP_SHEET_NUMBER: 999, F.PARCEL_NUMBER: 9999}


def plausible_number(name: str, value: int) -> bool:
    """Whether a parcel or map-sheet number (or another number field) lies in the range the registry uses."""
    return 0 < value <= _PLAUSIBLE.get(name, 99999)


def _lost_digits(full: str, read: str) -> bool:
    """Whether `read` is `full` with one or more digits lost (its digits, in order, inside `full`)."""
    rest = iter(full)
    return len(read) < len(full) and all(ch in rest for ch in read)


def read_int_field(t: PageText, pg: PageImages, name: str, sl: Slice) -> Evidence | None:
    m = re.match(r"\s*([0-9OoDQIli|!ZSsBG]+)", sl.raw)
    if not m or (m.group(1).isalpha() and _LOT.match(sl.raw)):
        return _read_lot(t, pg, name, sl)
    value, repaired = to_int(m.group(1))
    if value is None:
        return None
    s, e = sl.start + m.start(1), sl.start + m.end(1)
    mean, low = t.stats(s, e)
    box = t.tight_box(s, e)
    ev = Evidence(name, value, box, ["ocr"], mean, low, valid=plausible_number(name, value), repaired=repaired)
    if box is not None:
        text, conf, _ = pg.read(box, whitelist=DIGITS)
        again, _ = to_int(text)
        if again is None:
            # the re-read found no digits (a blurred photo): the eng model's reading confirms or contradicts
            other, _ = to_int(pg.second_opinion(box, DIGITS)[0])
            if other == value:
                ev.agree += 1
                ev.sources.append("reread")
            elif other is not None:
                # the only other reading contradicts it (`40` read `48` by the layout pass): not a certainty
                ev.disagree, ev.doubtful = ev.disagree + 1, True
        else:
            if again == value:
                ev.agree += 1
                ev.sources.append("reread")
            else:
                # two readings disagree: a third, from the eng model, breaks the tie. A re-read that lost
                # a digit (`12` read `2`) must not win: a dropped character is likelier than an added one
                text3, conf3, _ = pg.second_opinion(box, DIGITS)
                third, _ = to_int(text3)
                ev.disagree += 1
                dropped = str(again) in str(value) and len(str(again)) < len(str(value))
                if third == again and not dropped and min(conf, conf3) >= 0.5:
                    ev.value, ev.repaired, ev.sources, ev.agree = again, False, ["reread"], 1
                elif third == value:
                    ev.agree += 1
                    ev.sources.append("reread")
                elif (
                    third is not None and conf3 >= 0.5 and all(_lost_digits(str(third), str(v)) for v in (value, again))
                ):
                    # both other readings are the third with digits lost (a block re-read's `I5` for `115`,
                    # the re-read's `5`): the one reading that explains the others, held for review
                    ev.value, ev.repaired, ev.sources, ev.doubtful = third, False, ["reread"], True
                else:
                    # no two of the three readings agree (a booklet photo's `611` read `6`): a person decides
                    ev.doubtful = True
                    if repaired and conf > 0.8:
                        ev.value, ev.repaired = again, False
    ev.valid = plausible_number(name, ev.value)
    return ev


def read_area(
    t: PageText, pg: PageImages, sl: Slice, words: Slice | None, warnings: list[str]
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
        words_text = text_value(words).strip("()")
        words_text = re.sub(r"^\(?\s*", "", words_text).rstrip(");,. ")
        words_number = words_value(words_text)
        words_text = _area_words_text(words_text)
        wmean, wlow = t.stats(words.start, words.end)
        words_ev = Evidence(
            F.AREA_IN_WORDS,
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
        text3, _, _ = pg.second_opinion(box, DIGITS + ".,m²2 ")
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
    ev = Evidence(F.AREA_M2, _plain_number(best), box, list(srcs), mean, low, valid=best > 0)
    ev.agree = len(srcs) - 1
    ev.disagree = sum(len(s) for v, s in tally.items() if v != best)
    ev.repaired = ambiguous
    if words_number is not None:
        digits = [v for v, s in readings if s != "words"]
        if digits and all(d != words_number for d in digits):
            ev.check = -1
            warnings.append(
                f"area_words_mismatch: digits {fmt_area(digits[0])} m² vs words {fmt_area(words_number)} m²"
            )
        elif digits:
            ev.check = 1
        if words_ev is not None:
            words_ev.agree = int(words_number == best)
            words_ev.check = 1 if words_number == best else -1
    elif words_text:
        # the words are printed but too garbled to parse: the digits go unchecked, and a digit the layout
        # pass lost is lost to every re-read of the same box (`66,6` read `6,6` twice)
        ev.doubtful = True
    return ev, words_ev


_NUMBER_WORD_KEYS = frozenset(_NUMBER_WORD_SPELLINGS) - {"met", "vuong", "chan"}


def _area_words_text(text: str) -> str:
    """The area in words as printed, without what OCR added after it: up to the last number word, then
    the unit (`mét vuông`) when the print has it. The unit ends the number: number words read after it
    come from the print beyond (`... mét vuô b Sáu Y BẢN Chín`)."""
    words = text.split()
    keys = [repair_token(name_key(re.sub(r"[^\w]", "", w)).lower()) for w in words]
    unit = next(
        (i for i, k in enumerate(keys) if k in ("met", "m2") and any(q in _NUMBER_WORD_KEYS for q in keys[:i])), None
    )
    last = max((i for i, k in enumerate(keys[:unit]) if k in _NUMBER_WORD_KEYS), default=-1)
    if last < 0:
        return text
    tail = " mét vuông" if any(k in ("met", "vuong", "m2") for k in keys[last + 1 :]) else ""
    return " ".join(words[: last + 1]) + tail
