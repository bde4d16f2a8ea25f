"""The text fields of a card: the name (through the name lexicon), addresses (through the place gazetteer),
sex and nationality."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
from rapidfuzz import fuzz

from models import fields as F
from models.elements import EMPTY_LINE as EMPTY
from models.elements import Line, TextPage, Word, union
from worker.extract import lexicon, places
from worker.extract.gazetteer import has_kind
from worker.extract.idcard.band import (
    BandRow,
    adds_place,
    beside_label,
    column_right,
    printed_rows,
    read_row,
    row_box,
    rows_below,
    unseen_row,
    words_of,
)
from worker.extract.idcard.evidence import START_LOST, STARTS_BELOW_LABEL, Reading
from worker.extract.idcard.labels import (
    LABELS,
    LabelHit,
    cut_at_label,
    cut_text_at_label,
    drop_english_half,
    drop_label_residue,
    find_label,
    label_kind,
    lines_below,
    right_of,
    strip_tail,
    word_key,
)
from worker.extract.idcard.plausible import places_confirmed
from worker.extract.idcard.regions import line_stats, read_region
from worker.ocr import Reader
from worker.vntext import clean, name_key, strip_diacritics, strip_tones


def read_text_field(
    reader: Reader,
    img: np.ndarray,
    layout: TextPage,
    name: str,
    *,
    max_lines: int = 1,
    choices: bool = False,
    band: bool = False,
) -> tuple[list[Reading], list[Line]]:
    """Text after the label (same line, or the lines below when the label ends its line); with `band`, a
    place's rows found under its label by geometry (band.py) instead of by the layout pass's lines."""
    hit = find_label(layout.lines, LABELS[name])
    if hit is None:
        if name == F.FULL_NAME and (line := _name_line(layout, img.shape[0])) is not None:
            readings, lines = _read_value_lines(reader, img, _with_wrapped(layout, line, max_lines), choices=choices)
            _mark_start_lost(readings, layout, line.words[0], None)
            if _label_cut_above(layout, line):
                for r in readings:
                    r.extra[START_LOST] = 1.0
            return readings, lines
        return [], []
    value_lines: list[tuple[list[Word], Line]] = []
    first = drop_english_half(hit, strip_tail(hit.value_words, LABELS[name]), name)
    first = cut_at_label(drop_label_residue(first, name), LABELS[name])
    if name == F.FULL_NAME and not _capitals(first):
        first = []  # names are printed in capitals: lower case after the label is the label's garbled rest
    # a speck after the label (`Họ và tên: À`) is not the value: the value is on the next line
    if first and sum(ch.isalnum() for w in first for ch in w.text) >= 3:
        value_lines.append((first, hit.line))
    if band and name in _PLACES:
        return _read_band(reader, img, layout, hit, name, value_lines[0][0] if value_lines else [], max_lines)
    on_label_line = bool(value_lines)
    span = (first[0].box[0], max(w.box[0] + w.box[2] for w in first)) if value_lines else None
    for line in lines_below(
        layout.lines,
        hit.label_box,
        exclude=hit.line,
        max_lines=max_lines - len(value_lines),
        own=LABELS[name],
        value_span=span,
    ):
        if len(value_lines) >= max_lines or (name in _PLACES and _complete(value_lines)):
            break
        # drop words left of the label column (the photo, the expiry date under it)
        ordered = [w for row in printed_rows(right_of(line.words, hit.label_box)) for w in row]
        words = cut_at_label(strip_tail(ordered, LABELS[name]), LABELS[name])
        if name == F.FULL_NAME and value_lines and not _capitals(words):
            break  # a long name wraps onto a line of capitals; anything else under it is not the name
        if words:
            value_lines.append((words, line))
    if not value_lines and name == F.FULL_NAME and (line := _name_line(layout, img.shape[0])) is not None:
        value_lines = _with_wrapped(layout, line, max_lines)
    if not value_lines:
        return [], []
    readings, lines = _read_value_lines(reader, img, value_lines, choices=choices)
    if name == F.FULL_NAME:
        _mark_start_lost(readings, layout, value_lines[0][0][0], hit.label_box[0])
    return _starting_below(readings, name, not on_label_line), lines


_PLACES = (F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.PLACE_OF_BIRTH)


def _mark_start_lost(readings: list[Reading], layout: TextPage, first: Word, column: int | None) -> None:
    """Marks a name whose line holds letters of a name before its first word, right of where the value column
    starts (the label's left edge; the line's start when no label was found): a capital the label's match
    swallowed (`Họ và t ỄN TÔN NỮ`) or a fragment the run of capitals stepped over (`À( /ÁN BÌNH`) is what
    is left of the name's first word(s), garbled and lost."""
    line = next((ln for ln in layout.lines if any(w is first for w in ln.words)), None)
    if line is None:
        return
    before = [
        w for w in line.words if w.box[0] < first.box[0] and (column is None or w.box[0] >= column) and w is not first
    ]
    if any(_name_fragment(w.text) for w in before):
        for r in readings:
            r.extra[START_LOST] = 1.0


def _label_cut_above(layout: TextPage, name: Line) -> bool:
    """Whether the line just above a name found without its label spells only the end of the name's label
    (`tên khai sinh / Full name` for `Họ, chữ đệm và tên khai sinh / Full name`): the label's start was cut
    at the card's edge or lost, and the name under it, printed from the same left edge, with it."""
    x0, y0, w, h = name.box
    above = [
        ln
        for ln in layout.lines
        if ln.box[1] + ln.box[3] <= y0 + h // 2
        and ln.box[1] >= y0 - 3 * h
        and ln.box[0] < x0 + w
        and ln.box[0] + ln.box[2] > x0
    ]
    if not above:
        return False
    key = " ".join(name_key(max(above, key=lambda ln: ln.box[1]).text).replace("/", " ").split())
    key = re.sub(r"[^A-Z ]", "", key).strip()
    if len(key) < len(" FULL NAME") + 3:
        return False  # the English half alone (`Full name`) may be its own line: a word of the Vietnamese one too
    for variant in LABELS[F.FULL_NAME]:
        tail = variant[-len(key) :]
        if len(variant) - len(key) >= 4 and fuzz.ratio(key, tail) >= 85:
            return True
    return False


def _name_fragment(text: str) -> bool:
    """Letters only capitals, two or more or one with a Vietnamese mark (a lone `I` or `l` may be a stroke of
    the artwork): labels are printed in sentence case, names in capitals."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(ch.isupper() for ch in letters) and (len(letters) >= 2 or not letters[0].isascii())


def _starting_below(readings: list[Reading], name: str, below: bool) -> list[Reading]:
    """Marks a residence read wholly from the lines under its label: every card prints the residence's start
    on the label's own line, so a value with nothing from there may have lost its first part (a hamlet)."""
    if below and name == F.PLACE_OF_RESIDENCE:
        for r in readings:
            r.extra[STARTS_BELOW_LABEL] = 1.0
    return readings


def _read_band(
    reader: Reader, img: np.ndarray, layout: TextPage, hit: LabelHit, name: str, first: list[Word], max_lines: int
) -> tuple[list[Reading], list[Line]]:
    """A place's rows under its label by geometry, each read again across the whole value column; a row the
    layout pass never saw is read where it would stand when it takes the address towards its province."""
    x0, y0, _, h = hit.label_box
    right = column_right(layout, hit, img.shape[1])
    beside = beside_label(layout, hit)
    first = sorted([*first, *beside], key=lambda w: w.box[0])
    rows = [BandRow(first, row_box(first, first[0].box[0], right))] if first else []
    floor = rows[0].box[1] + rows[0].box[3] if rows else 0
    below = rows_below(
        layout,
        hit,
        LABELS[name],
        max_rows=max_lines - len(rows),
        right=right,
        top=int(y0 + 1.1 * h),
        skip=beside,
        floor=floor,
    )
    for row in below:
        so_far = [w for r in rows for w in r.words]
        if _complete_value(name, so_far):
            break
        if so_far and words_of(row.words) < 2 and not _furthers(name, so_far, row.words):
            # one word alone between rows is a mark of the artwork, unless it is the province the value
            # wrapped to; the value's first row is never dropped (`TDP Hán Ứ`: its hamlet, garbled)
            continue
        rows.append(row)
    if not rows:
        return [], []
    words = [w for r in rows for w in r.words]
    box = list(union(r.box for r in rows))
    layout_reading = _layout_reading(words, box)
    reads = []
    for r in rows:
        line = read_row(reader, img, r.box)
        if _word_count(line.text) < _word_count(" ".join(w.text for w in r.words)):
            line = read_region(reader, img, r.box, psm=7, pad_y=0.2)  # a tight crop cuts a capital's marks
        reads.append(line)
    text = " ".join(r.text for r in reads if r.text)
    extra = unseen_row(rows[-1].box, int(x0 - 0.3 * h), right, img.shape[0], int(1.2 * h))
    if len(rows) < max_lines and extra is not None and not _complete_value(name, words):
        line = read_row(reader, img, extra)
        if adds_place(text, line.text, lambda t: clean_value(name, t)):
            reads.append(line)
            text = f"{text} {line.text}"
            box = list(union([tuple(box), extra]))  # type: ignore[list-item]
    return _starting_below([layout_reading, _ocr_reading(reads, box)], name, not first), reads


def _furthers(name: str, so_far: list[Word], row: list[Word]) -> bool:
    """Whether a row takes the value's address towards its province (`Thừa Thiên` / `Huế`)."""
    before = clean_value(name, " ".join(w.text for w in so_far))
    after = clean_value(name, " ".join(w.text for w in [*so_far, *row]))
    return places_confirmed(after) > places_confirmed(before)


def _complete_value(name: str, words: list[Word]) -> bool:
    """As _complete, on the words cleaned as the field's value (a speck after the province, `Trị Ji`)."""
    return _complete([([Word(text=clean_value(name, " ".join(w.text for w in words)), confidence=0.0)], EMPTY)])


def _complete(value_lines: list[tuple[list[Word], Line]]) -> bool:
    """An address read so far that ends with a province after a comma is whole: the line under it is the next
    field's value (its label lost by the layout pass). A city named as such (`TP. Huế`) may be a district's
    name too, its province on the next line."""
    text = clean(" ".join(w.text for ws, _ in value_lines for w in ws)).rstrip(" ,.;")
    if "," not in text:
        return False
    found = places_confirmed(text)
    return found >= 2 or (found == 1 and not has_kind(text.split(",")[-1]))


def _capitals(words: list[Word]) -> bool:
    letters = [ch for w in words for ch in w.text if ch.isalpha()]
    return bool(letters) and sum(ch.isupper() for ch in letters) >= 0.7 * len(letters)


def _read_value_lines(
    reader: Reader, img: np.ndarray, value_lines: list[tuple[list[Word], Line]], *, choices: bool
) -> tuple[list[Reading], list[Line]]:
    value_words = [w for ws, _ in value_lines for w in ws]
    value_box = list(union(w.box for w in value_words))
    reads: list[Line] = []
    for ws in (row for words, _ in value_lines for row in printed_rows(words)):
        box = union(w.box for w in ws)
        r = read_region(reader, img, box, psm=7, choices=choices)
        seen = _word_count(" ".join(w.text for w in ws))
        if _word_count(r.text) < seen:
            # the re-read lost a word the layout pass saw: a tight crop cuts the marks above a capital
            # (`VÕ` → `V`, then dropped as a speck); more room above and below, then raw-line mode
            for kw in ({"pad_y": 0.2, "psm": 7}, {"pad_y": 0.2, "psm": 13}):
                r2 = read_region(reader, img, box, choices=choices, **kw)
                if _word_count(r2.text) == seen:
                    r = r2
                    break
        reads.append(r)
    return [_layout_reading(value_words, value_box), _ocr_reading(reads, value_box)], reads


def _layout_reading(words: list[Word], box: list[int]) -> Reading:
    """The layout pass's words of a value as one reading, at their mean confidence."""
    return Reading(" ".join(w.text for w in words), "layout", float(np.mean([w.confidence for w in words])), box=box)


def _ocr_reading(reads: list[Line], box: list[int]) -> Reading:
    """A value's rows read again, joined, with their characters' mean and least confidence."""
    text = " ".join(r.text for r in reads if r.text)
    syms = [s.confidence for r in reads for s in r.symbols]
    return Reading(
        text, "ocr", float(np.mean(syms)) if syms else 0.0, float(min(syms)) if syms else 0.0, bool(text), box
    )


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


def _with_wrapped(layout: TextPage, line: Line, max_lines: int) -> list[tuple[list[Word], Line]]:
    """A name found without its label, and the line of capitals under it a long name wraps onto."""
    out = [(line.words, line)]
    if max_lines > 1:
        for below in lines_below(layout.lines, line.box, max_lines=1, exclude=line):
            if _capitals(below.words) and label_kind(below) is None:
                out.append((below.words, below))
    return out


def _name_line(layout: TextPage, height: int) -> Line | None:
    """No name label found: the name is the run of capitals (2-6 words) ending the first line under the
    number that is not a title; a garbled label before it (`nọ và tấn: TRẦN ĐỨC NHÂN`) is dropped."""
    number_y = next((ln.box[1] for ln in layout.lines if re.search(r"\d{9,}", ln.text.replace(" ", ""))), 0)
    for line in sorted(layout.lines, key=lambda ln: ln.box[1]):
        if line.box[1] <= number_y or line.box[1] > 0.75 * height or label_kind(line) == "other":
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
            return Line(
                text=" ".join(w.text for w in run), confidence=line.confidence, box=union(w.box for w in run), words=run
            )
    return None


def clean_name(text: str) -> str:
    text = clean(text).upper()
    text = re.sub(r"[^A-ZÀ-ỸĐ ]", " ", text)
    words = [one_vowel(w) for w in text.split() if len(w) > 1 or w in ("Ý", "Ỷ")]
    return " ".join(words)


def one_vowel(word: str) -> str:
    """A stacked-diacritic vowel the recogniser emitted twice (`HĂẰNG`, `LẦÂM`): no Vietnamese syllable
    holds the same vowel letter twice with marks on it, so keep the one that carries the most marks."""
    out: list[str] = []
    for ch in word:
        if out and ch in _VOWELS and out[-1] in _VOWELS and not (ch.isascii() and out[-1].isascii()):
            prev = out[-1]
            # the same letter (Ă and Ằ, Â and Ầ), not merely the same base: Ư and U are two letters (HỮU);
            # a doubled O is a word (XOONG) unless both carry a tone, which no syllable does (VÕÒ)
            double_tone = strip_tones(prev) != prev and strip_tones(ch) != ch
            if strip_tones(prev) == strip_tones(ch) and (strip_diacritics(ch) != "O" or double_tone):
                if len(unicodedata.normalize("NFD", ch)) > len(unicodedata.normalize("NFD", prev)):
                    out[-1] = ch
                continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


_VOWELS = frozenset("AĂÂEÊIOÔƠUƯY" + "ÀẰẦÈỀÌÒỒỜÙỪỲÁẮẤÉẾÍÓỐỚÚỨÝẢẲẨẺỂỈỎỔỞỦỬỶÃẴẪẼỄĨÕỖỠŨỮỸẠẶẬẸỆỊỌỘỢỤỰỴ")


def correct_name_reading(reads: list[Line], agreed: list[str] | None = None) -> tuple[str, float, int]:
    """OCR'd name through the lexicon: (name, min word posterior, changes). A word that every one of the
    `agreed` readings (two or more, independent) spells alike with a tone mark keeps that spelling: the
    lexicon may put back a tone the recogniser lost (`NGUYÊN`), not replace one both readings saw (`HUẾ`),
    unless the word is a surname the closed list of surnames does not hold."""
    corrected = lexicon.correct_reading((w for r in reads for w in r.words), clean_name)
    if not corrected:
        return "", 0.0, 0
    words = corrected.text.split()
    spelled = [a.split() for a in agreed or [] if len(a.split()) == len(words)]
    changes = corrected.changes
    for i, word in enumerate(words):
        seen = {sp[i] for sp in spelled}
        if len(spelled) < 2 or len(seen) != 1:
            continue
        read = seen.pop()
        # surnames are a closed list: one both readings toned otherwise (`TỒN` for `TÔN`) is a misread
        closed = lexicon.position_of(i, len(words)) == "surname" and not lexicon.known(read, "surname")
        if read != word and name_key(read) == name_key(word) and strip_tones(read) != read and not closed:
            words[i] = read
            changes -= 1
    return " ".join(words), corrected.posterior, max(0, changes)


def _sex_from(text: str) -> str | None:
    k = word_key(text)
    if not k:
        return None
    if k.startswith("NAM") or k in ("NA", "NAN", "NAH"):
        return "male"
    if k.startswith(("NU", "NO", "NE", "NC", "N0", "NOE")) or k == "N":
        return "female"
    return None


def read_sex(reader: Reader, img: np.ndarray, layout: TextPage, *, reread: bool = True) -> list[Reading]:
    """The sex after its label: the layout pass's reading and, with `reread`, the value's box read again
    (card.py leaves the re-reads out where a decoded QR code gives the sex)."""
    hit = find_label(layout.lines, LABELS[F.SEX])
    words = strip_tail(hit.value_words) if hit is not None else []
    if not words or _sex_from(words[0].text) is None:
        if hit is None or not reread:
            return []
        # the value fused with the label (`tính/sex:.M`): read the whole line again and take what follows
        lx, ly, lw, lh = hit.line.box
        # the value is set larger than the label: widen and heighten the box around the label line
        grow = int(max(6 * lh, 0.15 * img.shape[1]))
        r = read_region(reader, img, (lx, max(0, ly - lh // 2), lw + grow, 2 * lh), psm=7)
        key = name_key(r.text)
        m = re.search(r"SEX\W*(\w+)", key) or re.search(r"TINH\W*(\w+)", key)
        sex = _sex_from(m.group(1)) if m else None
        mean, mn = line_stats(r)
        return [Reading(sex, "ocr", mean, mn, sex is not None, list(hit.line.box))] if sex else []
    w = words[0]
    out = [Reading(_sex_from(w.text), "layout", w.confidence, valid=True, box=list(w.box))]
    if not reread:
        return out
    r = read_region(reader, img, w.box, psm=8)
    mean, mn = line_stats(r)
    out.append(Reading(_sex_from(r.text), "ocr", mean, mn, _sex_from(r.text) is not None, list(w.box)))
    return out


def nationality_without_label(layout: TextPage) -> list[Reading]:
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


_DOTTED = frozenset({"TP", "Tp", "TX", "Tx", "TT", "TDP", "KV"})


def fix_address(text: str) -> str:
    """OCR punctuation noise in addresses: `;` for `,`, stray `:`, `TP:` for `TP.`, space before commas."""
    text = re.sub(r"(?:(?<=\s)|^)[\u02b0-\u02ff]+(?=\s|$)", "", text)  # modifier-letter specks (`ˆ`)
    # a typed card's dot leaders end a line, and so a part (`Bình Minh........ ....Khoái Châu`); a dot
    # between words is a space (`Duy.Nghĩa`), after an abbreviation its dot (`TP.Hồ Chí Minh`)
    text = re.sub(r"\s*(?:\.{3,}|…+)[\s.…]*", ", ", text)
    text = re.sub(r"(?:(?<=\s)|^)\.+(?=[^\W\d_])", "", text)
    text = re.sub(
        r"\b([^\W\d_]{2,})\.(?=[^\W\d_])", lambda m: m.group(1) + (". " if m.group(1) in _DOTTED else " "), text
    )
    text = re.sub(r"\s*(?:,\s*)+", ", ", text).strip(" ,")
    text = re.sub(r"\b(TP|Tp|TX|Tx|TT|P|Q|H|X)\s*[:;]", r"\1.", text)
    text = re.sub(r"\b(TP|TX|TT),(?=\s*[A-ZĐÀ-Ỹ])", r"\1.", text)  # `TP, Huế`: these never stand alone
    text = re.sub(r"\b(TP|TX|TT)(?=\s+[A-ZĐÀ-Ỹ])", r"\1.", text)  # their dot lost (`TP Huế`)
    text = text.replace(";", ",").replace(":", "")
    # a digit stuck to the end of a word is a letter (`Trã1` → `Trãi`, `Hò0` → `Hòo`); house numbers stand alone
    text = re.sub(r"(?<=[^\W\d_]{2})1\b", "i", text)
    text = re.sub(r"(?<=[^\W\d_]{2})0\b", "o", text)
    text = re.sub(r"(?<=[^\W\d_])-(?=[^\W\d_])", " ", text)  # `Huyền-Trân`: no hyphens inside names
    text = re.sub(r"(?:(?<=\s)|^)[.'`’\"]+(?=\s|$)", "", text)  # stray dots and quotes between words
    # marks glued to a word's start (`„„Thạch`, `_Quận`)
    text = re.sub(r"(?:(?<=\s)|^)[„“”‘’\"`_]+(?=[^\W\d_])", "", text)
    # a mark glued to a digit or two between words is a speck (`Bạc \`4 Quận`): a house number has no mark
    text = re.sub(r"(?<=\s)[`'‘’+*^~]+\d{1,2}[.,]?(?=\s)", "", text)
    # an i-shaped letter standing alone is the recogniser's reading of a stroke (`Bạc, Í Quận`): no place's syllable
    text = re.sub(r"(?:(?<=\s)|^)[ÍÌỈĨỊíìỉĩị](?=[\s,]|$)", "", text)
    # a dot after a word that is no abbreviation (`Thôn.`) is noise
    text = re.sub(r"\b(?!(?:TP|Tp|TX|Tx|TT|P|Q|H|X|Đ|K)\.)([^\W\d_]{2,})\.(?=\s)", r"\1", text)
    text = text.replace("⁄", "/").replace("∕", "/")  # fraction and division slashes for house numbers
    text = re.sub(r"(?<=\d)\.(?=\s)", "", text)  # `247/56. Ưng Bình`
    # specks between words (`ˆ`, `_`, `|`) and a letter run into a digit after the last place (`Trị l8`)
    text = re.sub(r"(?:(?<=\s)|^)(?:[^\w\s]|_)+(?=\s|$)", "", text)
    text = re.sub(r"\s[^\W\d_]{1,2}\d+\W*$", "", text)
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r",(?=\S)", ", ", text)
    return re.sub(r"\s+", " ", text).strip(" ,.-_'\"|")


def clean_value(name: str, text: str) -> str:
    text = re.sub(r"^[^\w]+|[^\w.]+$", "", clean(text))
    if name in (F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.PLACE_OF_BIRTH):
        text = places.correct(fix_address(cut_text_at_label(_after_label_colon(text), LABELS[name])))
        text = _before_next_label(text)
    if name == F.NATIONALITY:
        # a split label's garbled tail may precede it (`Nauonalry Việt Nam`)
        key = name_key(text)
        if fuzz.ratio(key, "VIET NAM") >= 70 or re.search(r"\b\w?IET NAM\b", key):
            return "Việt Nam"
        return text
    return text


# abbreviations a misread dot turns into a colon (`TP: Huế`): the colon is theirs, not a label's
_COLON_ABBREVIATIONS = frozenset({"TP", "TX", "TT", "TDP", "KV", "KP", "P", "Q", "H", "X", "K", "D"})


def _after_label_colon(text: str) -> str:
    """A value read with its label's garbled end before the label's colon (`nce: 12/4`, `of residence: Thôn`):
    no address holds a colon, so up to three words of letters before one in the value's first words are the
    label's."""
    m = re.match(r"^((?:[^\W\d_]+\s+){0,2}([^\W\d_]+))\s*:\s*(?=\S)", text)
    if m is None or name_key(m.group(2)) in _COLON_ABBREVIATIONS or places.is_admin_word(m.group(2)):
        return text
    return text[m.end() :]


def _before_next_label(text: str) -> str:
    """An address cut where the next field's label begins after its province (`..., Hà Nội Nơi ĐH`: the
    CMND's `Nơi ĐKHK thường trú` read too garbled for its `thường trú` to be found): `Nơi` ends a value."""
    tokens = text.split()
    for j in range(2, len(tokens)):
        head = " ".join(tokens[:j]).rstrip(" ,.")
        if word_key(tokens[j]) == "NOI" and places_confirmed(head) >= 1:
            return head
    return text
