"""Vietnamese number words → numbers, for the "bằng chữ" (in words) amounts printed on certificates.

Certificates print the area twice: `125,4 m²` and `(bằng chữ: Một trăm hai mươi lăm phẩy bốn mét vuông)`.
The words are an independent second reading of the same number, so parsing them lets the extractor
confirm (or challenge) the digits that OCR read.

Parsing works on diacritic-folded, lower-cased tokens: OCR of the `vie` model often misreads tone marks
(`mươi`→`muoi`, `mười`→`muòi`), and the grammar is unambiguous without them because the role of the
folded `muoi` follows from its position (after a digit it is the multiplier `mươi`, otherwise the
number `mười`). The grammar covered:

- digits `không một hai ba bốn năm sáu bảy/bẩy tám chín`; `tư` (4) and `lăm`/`nhăm` (5) and `mốt` (1)
  after a tens word; `mười` (10) and `mươi` (×10), colloquial `chục` (×10)
- `linh`/`lẻ` for a zero tens digit (`một trăm linh năm` = 105)
- scales `trăm`, `nghìn`/`ngàn`, `triệu`, `tỷ`/`tỉ`, nested (`hai trăm nghìn` = 200 000)
- `phẩy` (decimal comma): the fractional part is read either as a number (`phẩy hai mươi lăm` = ,25)
  or digit by digit (`phẩy không năm` = ,05); leading `không` are leading zeros
- filler around the number is skipped: `mét vuông`, `m2`, `bằng chữ`, `chẵn`, punctuation

Public API:
    parse_number_words(text) -> Decimal          strict: every token must be a number word or filler
    find_number_words(text) -> Decimal | None    lenient: the longest run of number words in the text
    words_value(text) -> Decimal | None          for cross-checks: the whole amount or nothing
    repair_token(token) -> str                   a garbled folded token → the number word one edit away

One direction only: words → number. The other direction (number → words) is the synthetic-data generator's
job, fixtures/vnnum.py, which is kept independent of this parser so that it can serve as the oracle in the
tests (tests/unit/test_numwords.py parses what the generator writes).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache

from rapidfuzz.distance import Levenshtein

from worker.vntext import nfc, strip_diacritics

__all__ = ["find_number_words", "parse_number_words", "repair_token", "words_value"]

# folded token → digit value; `tu` (tư), `lam`/`nham` (lăm) and `mot` (mốt) are only legal as units
# after a tens word or `linh`, but reading them anywhere costs nothing and tolerates sloppy text
_DIGITS: dict[str, int] = {
    "khong": 0,
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "lam": 5,
    "nham": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
}
_TENS = {"muoi", "chuc"}  # mười/mươi; `chục` is the colloquial multiplier
_ZERO_TENS = {"linh", "le"}
_HUNDRED = "tram"
_SCALES: dict[str, int] = {"nghin": 1000, "ngan": 1000, "trieu": 1_000_000, "ty": 1_000_000_000, "ti": 1_000_000_000}
_POINT = {"phay"}
# words that may surround a number in words on a certificate and carry no value
_FILLER = {"met", "vuong", "m2", "m", "chan", "bang", "chu", "dien", "tich", "khoang", "va", "dong", "vnd"}
# frequent OCR slips on these words once diacritics are folded (rn→m, lost letters)
_OCR_VARIANTS: dict[str, str] = {
    "rnuoi": "muoi",
    "rnot": "mot",
    "muoj": "muoi",
    "nghim": "nghin",
    "nghln": "nghin",
    "trarn": "tram",
    "phai": "phay",
    "khonq": "khong",
    "chfn": "chin",
}
_NUMBER_TOKENS = set(_DIGITS) | _TENS | _ZERO_TENS | {_HUNDRED} | set(_SCALES) | _POINT

_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_TOKEN_MARKS = re.compile(r"[^\W\d_]+|\d+|[^\w\s,.;:()²\-]+", re.UNICODE)
_REPAIRABLE = tuple(sorted((_NUMBER_TOKENS | {"met", "vuong"}) - {"ba", "tu", "le", "ty", "ti"}))


def _tokens(text: str, *, marks: bool = False) -> list[str]:
    """Folded tokens; with `marks`, clusters of stray symbols (`???`, `§`) are kept as tokens too, so a word
    OCR turned into symbols still breaks a run of number words."""
    folded = strip_diacritics(nfc(text)).lower()
    out = []
    for raw in (_TOKEN_MARKS if marks else _TOKEN).findall(folded):
        tok = _OCR_VARIANTS.get(raw, raw)
        out.append(tok)
    # `m²` folds to `m` + `2`; keep it as one filler token so it does not read as the digit 2
    merged: list[str] = []
    for tok in out:
        if tok == "2" and merged and merged[-1] == "m":
            merged[-1] = "m2"
        else:
            merged.append(tok)
    return merged


def _below_thousand(tokens: list[str], *, after_higher: bool) -> int:
    """Value of a group < 1000. `after_higher` is True when a scale word precedes it (`nghìn linh năm`)."""
    if not tokens:
        return 0
    if _HUNDRED in tokens:
        i = tokens.index(_HUNDRED)
        head, rest = tokens[:i], tokens[i + 1 :]
        if not head:
            hundreds = 1  # a bare `trăm`
        elif len(head) == 1 and head[0] in _DIGITS:
            hundreds = _DIGITS[head[0]]
        else:
            raise ValueError(f"bad hundreds: {' '.join(head)!r}")
        tail = _below_hundred(rest)
        if rest and len(rest) == 1 and rest[0] in _DIGITS and rest[0] != "khong":
            # `một trăm năm` is spoken shorthand for 150 but a dropped `linh` would make it 105:
            # refuse rather than pick, so a cross-check never confirms a guess
            raise ValueError("ambiguous units after trăm without linh")
        return hundreds * 100 + tail
    del after_higher  # `hai nghìn linh năm` and `hai nghìn năm` both mean 2005: no special case
    return _below_hundred(tokens)


def _below_hundred(tokens: list[str]) -> int:
    if not tokens:
        return 0
    first = tokens[0]
    if first in _ZERO_TENS:
        if len(tokens) == 2 and tokens[1] in _DIGITS:
            return _DIGITS[tokens[1]]
        raise ValueError(f"bad linh/lẻ group: {' '.join(tokens)!r}")
    if first in _TENS:  # mười, mười một, mười lăm
        if len(tokens) == 1:
            return 10
        if len(tokens) == 2 and tokens[1] in _DIGITS and tokens[1] != "khong":
            return 10 + _DIGITS[tokens[1]]
        raise ValueError(f"bad teens group: {' '.join(tokens)!r}")
    if first in _DIGITS:
        if len(tokens) == 1:
            return _DIGITS[first]
        if tokens[1] in _TENS:
            tens = _DIGITS[first]
            if len(tokens) == 2:
                return tens * 10
            if len(tokens) == 3 and tokens[2] in _DIGITS and tokens[2] != "khong":
                return tens * 10 + _DIGITS[tokens[2]]
    raise ValueError(f"bad tens group: {' '.join(tokens)!r}")


def _integer(tokens: list[str], *, after_higher: bool = False) -> int:
    if not tokens:
        raise ValueError("no number words")
    present = [(s, v) for s, v in _SCALES.items() if s in tokens]
    if not present:
        return _below_thousand(tokens, after_higher=after_higher)
    top = max(v for _, v in present)
    # the last occurrence of the biggest scale splits "multiplier" from "remainder"
    idx = max(i for i, t in enumerate(tokens) if _SCALES.get(t) == top)
    left, right = tokens[:idx], tokens[idx + 1 :]
    multiplier = _integer(left) if left else 1
    remainder = _integer(right, after_higher=True) if right else 0
    if remainder >= top:
        raise ValueError("remainder larger than its scale")
    return multiplier * top + remainder


def _fraction_digits(tokens: list[str]) -> str:
    if not tokens:
        raise ValueError("nothing after phẩy")
    if all(t in _DIGITS for t in tokens):
        # `không năm` → 05, `một hai` → 12: digit-by-digit reading
        return "".join(str(_DIGITS[t]) for t in tokens)
    zeros = 0
    while zeros < len(tokens) and tokens[zeros] == "khong":
        zeros += 1
    return "0" * zeros + str(_integer(tokens[zeros:]))


def _value(tokens: list[str]) -> Decimal:
    points = [i for i, t in enumerate(tokens) if t in _POINT]
    if len(points) > 1:
        raise ValueError("more than one phẩy")
    if points:
        p = points[0]
        whole = _integer(tokens[:p]) if tokens[:p] else 0
        return Decimal(f"{whole}.{_fraction_digits(tokens[p + 1 :])}")
    return Decimal(_integer(tokens))


def parse_number_words(text: str) -> Decimal:
    """Strictly parse Vietnamese number words (`Một trăm hai mươi lăm phẩy bốn mét vuông` → 125.4).

    Raises ValueError when a token is neither a number word nor known filler, or the grammar is broken."""
    tokens = [t for t in _tokens(text) if t not in _FILLER]
    unknown = [t for t in tokens if t not in _NUMBER_TOKENS]
    if unknown:
        raise ValueError(f"not number words: {unknown!r}")
    return _plain(_value(tokens))


def find_number_words(text: str) -> Decimal | None:
    """The value of the longest parseable run of number words in free text, or None.

    OCR lines carry labels and punctuation (`c) Diện tích: ..., (bằng chữ: ...)`); this picks out the run."""
    tokens = _tokens(text)
    runs: list[list[str]] = []
    current: list[str] = []
    for tok in tokens:
        if tok in _NUMBER_TOKENS:
            current.append(tok)
        elif tok in _FILLER and not current:
            continue
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    for run in sorted(runs, key=len, reverse=True):
        # a lone `ba`/`nam`/`tu` is far more likely a word (Bà, Nam, tư) than a number
        if len(run) < 2 and run[0] not in _TENS and run[0] != _HUNDRED:
            continue
        try:
            return _plain(_value(run))
        except (ValueError, InvalidOperation):
            continue
    return None


@cache
def repair_token(token: str) -> str:
    """A folded token OCR garbled, mapped to the one number word (or unit word) within one edit of it
    (`trom` → `tram`, `phaay` → `phay`, `bav` → `bay`); unchanged when none or several are that close.
    Two-letter tokens are left alone: one edit away from too many words."""
    token = _OCR_VARIANTS.get(token, token)
    if token in _NUMBER_TOKENS or token in _FILLER or len(token) < 3 or token.isdigit():
        return token
    close = [w for w in _REPAIRABLE if len(w) >= 3 and Levenshtein.distance(token, w, score_cutoff=1) <= 1]
    return close[0] if len(close) == 1 else token


def words_value(text: str) -> Decimal | None:
    """The number an amount-in-words states, or None unless the whole amount reads as one number.

    Stricter than find_number_words for cross-checks: after any leading filler (`bằng chữ:`), number words
    (garbled ones repaired) must run to the end or to the unit (`mét vuông`), so a word OCR destroyed in
    the middle (`Một nghìn tám ??? mười chín`) gives None rather than the value of a fragment."""
    tokens = [repair_token(t) for t in _tokens(text, marks=True)]
    while tokens and tokens[0] in _FILLER and tokens[0] not in _NUMBER_TOKENS:
        tokens.pop(0)
    run: list[str] = []
    for i, tok in enumerate(tokens):
        if tok in _NUMBER_TOKENS:
            run.append(tok)
            continue
        # the unit closes the amount (whatever OCR made of the rest of the line); else only filler may follow
        if tok not in ("met", "vuong", "m2") and not all(t in _FILLER for t in tokens[i:]):
            return None
        break
    if not run:
        return None
    try:
        return _plain(_value(run))
    except (ValueError, InvalidOperation):
        return None


def _plain(value: Decimal) -> Decimal:
    """Drop trailing fractional zeros without switching to exponent form (100 stays 100, not 1E+2)."""
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize()
