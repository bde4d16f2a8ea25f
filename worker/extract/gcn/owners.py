"""The owner section of page 1: each owner's relationship as printed, name, birth year, ID number and
type, address; a section the layout pass garbled is read again as a block."""

from __future__ import annotations

import re
from datetime import date

import numpy as np

from models import fields as F
from models.elements import Line, TextPage
from worker.extract import lexicon
from worker.extract.gcn.address import address_spelled_known, canonical_address, check_house_number, reread_street
from worker.extract.gcn.evidence import OWNER, Evidence
from worker.extract.gcn.images import PageImages, ocr_band
from worker.extract.gcn.numbers import DIGIT_FIX, DIGITS, to_int, year_ok
from worker.extract.gcn.patterns import (
    ADDRESS_LABEL,
    BARE_ID,
    BIRTH_YEAR,
    OWNER_ID,
    OWNER_IN_ADDRESS,
    OWNER_SECTION,
    OWNER_START,
    OWNER_START_LOOSE,
    OWNER_START_PRE,
    OWNERS_END,
    PROVINCE_END,
    TITLE_CASE_NAME,
)
from worker.extract.gcn.text import PageText, strip_item_marker
from worker.extract.validate import CMND9_PREFIXES, PROVINCE_CODES
from worker.vntext import clean, name_key

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


def _lexicon_name(words: list[str]) -> tuple[str, float, int]:
    """Lexicon correction (worker/extract/lexicon.py): (name, lowest posterior of a known word, words
    the lexicon does not know)."""
    corrected = lexicon.correct_words(words)
    return clean(corrected.text).upper(), corrected.posterior, corrected.unknown


def _reread_name(reading: Line | None) -> tuple[str, float, int, str] | None:
    """The name re-read from its own region, corrected with the recogniser's per-letter alternatives:
    (name, lowest posterior, unknown words, the re-read's own text before correction)."""
    corrected = lexicon.correct_reading(reading.words, _name_text) if reading is not None else None
    if corrected is None:
        return None
    return clean(corrected.text).upper(), corrected.posterior, corrected.unknown, corrected.read


def _gap_end(t: PageText, start: int, end: int) -> int:
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


# the section's heading on a photo, a letter of each word misread (`Người se dụng đát`)
_SECTION_LOOSE = re.compile(r"nguoi\s*s[a-z]\s*d[a-z]ng\s*d[a-z]t[^\n]*")


def _owner_section(t: PageText) -> re.Match[str] | None:
    return OWNER_SECTION.search(t.fold) or _SECTION_LOOSE.search(t.fold)


def read_owners(t: PageText, pg: PageImages, form: str | None, warnings: list[str]) -> list[dict[str, Evidence]]:
    sec = _owner_section(t)
    start = sec.end() if sec else 0
    end_m = OWNERS_END.search(t.fold, start)
    end = end_m.start() if end_m else len(t.fold)
    # without the heading, the block the owners stand in starts at the first title, not the page's top
    first = OWNER_START.search(t.fold, start, end) if sec is None else None
    end = _gap_end(t, first.start() if first else start, end)
    starts: list[re.Match[str]] = list(OWNER_START.finditer(t.fold, start, end))
    # a title misread (`Hạ LE THỊ NGỌC THU; CCCD số: ...`, `Bài NGUYỄN ...`): a short word, then a name in
    # capitals, on a line that also carries a birth year or an ID number
    strict_lines = {t.line_index(mm.start()) for mm in starts}
    starts += [
        mm
        for mm in OWNER_START_LOOSE.finditer(t.fold, start, end)
        if t.line_index(mm.start()) not in strict_lines
        and re.match(r"\s*[:;.]?\s*[A-ZĐÀ-Ỹ]{2,}\s", t.raw[mm.end("title") :])
        and mm.group("title") not in ("cccd", "cmnd", "cmt", "so", "dia", "nam", "sinh")
    ]
    if form == "gcn_pre2009":
        strict_lines = {t.line_index(mm.start()) for mm in starts}
        starts += [
            mm
            for mm in OWNER_START_PRE.finditer(t.fold, start, end)
            if t.line_index(mm.start()) not in strict_lines
            and mm.group("title") not in ("cccd", "cmnd", "cmt", "so", "dia", "nam", "sinh")
            and TITLE_CASE_NAME.match(t.raw, mm.end(), t.line_end(mm.end()))
        ]
    starts.sort(key=lambda mm: mm.start())
    owners: list[dict[str, Evidence]] = []
    shifted = False
    for i, m in enumerate(starts):
        b_end = starts[i + 1].start() if i + 1 < len(starts) else end
        owner = _read_owner(t, pg, m, b_end, form, warnings, len(owners))
        # a title alone (a speck line read `Ông:`) is no owner
        if owner.keys() - {F.OWNER_RELATIONSHIP}:
            shifted = shifted or _entries_before(t, start, m.start(), headed=sec is not None) > len(owners)
            if shifted:
                for ev in owner.values():
                    ev.doubtful = True
            owners.append(owner)
    if shifted:
        warnings.append("owner_line_unread: an owner's lines were read without their title; owners may be shifted")
    return owners


def _entries_before(t: PageText, start: int, pos: int, *, headed: bool = False) -> int:
    """How many owners' entries the section holds before `pos`: the most of its ID numbers and birth years
    (every entry prints its ID, and its birth year but on the 2024 form). More entries than owners read
    before an owner means one was lost, and the owners read after it sit at another owner's place. Under
    the section's heading, a line of nine digits or more is an entry too: an ID whose label and title were
    garbled (`Ha TRẦN THỊ MAI: ( ‹ ( [) „. 04®617165%4157` on a booklet photo)."""
    ids = sum(1 for _ in OWNER_ID.finditer(t.fold, start, pos))
    years = sum(1 for _ in BIRTH_YEAR.finditer(t.fold, start, pos))
    numbered = 0
    if headed and pos > start:
        lines = range(t.line_index(start), t.line_index(pos))
        numbered = sum(1 for k in lines if sum(c.isdigit() for c in t.lines[k].text) >= _ID_DIGITS_MIN)
    return max(ids, years, numbered)


# the fewest digits an owner's ID prints (a CMND's nine)
_ID_DIGITS_MIN = 9


def _read_owner(
    t: PageText, pg: PageImages, m: re.Match[str], end: int, form: str | None, warnings: list[str], index: int
) -> dict[str, Evidence]:
    f = t.fold
    out: dict[str, Evidence] = {}
    rel = _relationship(m.group("title")) if m.re is OWNER_START else None
    tmean, tlow = t.stats(m.start("title"), m.end("title"))
    if rel is not None:
        out[F.OWNER_RELATIONSHIP] = Evidence(
            OWNER + F.OWNER_RELATIONSHIP, rel, t.box(m.start("title"), m.end("title")), ["ocr"], tmean, tlow
        )
    # the block ends before the serial / page furniture: stop at a line of mostly non-owner content
    block_end = end
    tail = _FORM_NUMBER.search(f, m.end(), end)
    if tail:
        block_end = tail.start()
    name = _owner_name(t, pg, m, block_end)
    if name is not None:
        out[F.OWNER_FULL_NAME] = name
    birth_year: Evidence | None = None
    if (by := BIRTH_YEAR.search(f, m.end(), block_end)) is not None:
        birth_year = _owner_birth_year(t, pg, by)
        out[F.OWNER_BIRTH_YEAR] = birth_year
    idm = OWNER_ID.search(f, m.end(), block_end) or BARE_ID.search(f, m.end(), block_end)
    if idm:
        out[F.OWNER_ID_TYPE] = _owner_id_type(t, idm)
        number = _owner_id_number(t, pg, idm)
        if number.value is not None:
            _check_id(number, birth_year, _sex_of(rel) if rel else None, warnings, index)
        out[F.OWNER_ID_NUMBER] = number
    # the 2024 form prints name and ID only: an `Địa chỉ` there is the parcel's
    am = ADDRESS_LABEL.search(f, m.end(), block_end) if form != "gcn_2024_qr" else None
    if am and (address := _owner_address(t, pg, am, block_end)) is not None:
        out[F.OWNER_ADDRESS] = address
    return out


# the certified-copy stamp's words
_COPY_STAMP = re.compile(r"\bsao\s*y\s*ban\s*chinh|\bban\s*sao\b")
# the form's own number at the page's foot (`Mẫu GCN ...`)
_FORM_NUMBER = re.compile(r"(?m)^\s*mau\s*gcn")
# a spouse's own title after the relationship (`Và vợ: Bà TRẦN THỊ BÍCH`)
_SPOUSE_TITLE = re.compile(r"\s*(?:ong|ba)\b\s*[:.]?\s*")


def _owner_name(t: PageText, pg: PageImages, m: re.Match[str], block_end: int) -> Evidence | None:
    """The name after the title, up to a comma/semicolon, `sinh năm`, the ID label or the line end; through
    the name lexicon, then read again from its own region with the letters' alternatives."""
    f = t.fold
    ns = m.end()
    own_title = _SPOUSE_TITLE.match(f[ns:block_end])
    if own_title and m.group("title").startswith("va"):
        ns += own_title.end()
    stops = [f.find(c, ns, block_end) for c in (",", ";", "\n")]
    for pat in (BIRTH_YEAR, OWNER_ID, ADDRESS_LABEL):
        mm = pat.search(f, ns, block_end)
        if mm:
            stops.append(mm.start())
    ne = min([s for s in stops if s >= 0] or [block_end])
    name = _name_text(t.raw[ns:ne])
    if not name:
        return None
    mean, low = t.stats(ns, ne)
    box = t.box(ns, ne)
    ev = Evidence(OWNER + F.OWNER_FULL_NAME, name, box, ["ocr"], mean, low, valid=2 <= len(name.split()) <= 6)
    lay, lay_post, lay_unknown = _lexicon_name(name.split())
    posterior = lay_post
    if lay != name:
        ev.value, ev.repaired = lay, True
        ev.sources.append("lexicon")
    if box is not None:
        _, conf, reading = pg.read(box, choices=True)
        again = _reread_name(reading)
        if again is not None and len(again[0].split()) == len(lay.split()):
            posterior = weigh_name_reread(ev, name, (lay, lay_post, lay_unknown), again, conf, posterior)
    settle_name(ev, posterior)
    return ev


def settle_name(ev: Evidence, posterior: float) -> None:
    """The lexicon's posterior of the kept spelling as a check: sure, a close call, or against it."""
    ev.check = 1 if posterior > 0.9 else (0 if posterior > 0.5 else -1)


def weigh_name_reread(
    ev: Evidence,
    name: str,
    layout: tuple[str, float, int],
    again: tuple[str, float, int, str],
    conf: float,
    posterior: float,
) -> float:
    """The name's own-region reading against the layout pass's (both through the lexicon); returns the
    lexicon posterior of the value kept."""
    lay, lay_post, lay_unknown = layout
    rer, rer_post, rer_unknown, rer_raw = again
    if rer == lay:
        ev.agree += 1
        ev.sources.append("reread")
    elif rer_raw == name and lay == name:
        # the same reading twice: a close call between two known spellings (Hòa/Hoa) must not overrule
        # two readings that agree on the tone marks, but the letters' alternatives favouring another
        # spelling leave the kept one no surer than the alternatives allow
        ev.agree += 1
        ev.disagree += 1
        ev.sources.append("reread")
        posterior = min(posterior, 1.0 - rer_post)
    elif name_key(rer) == name_key(lay):
        # same letters, other tone marks: the reading with the letter alternatives decides, but where the
        # layout pass read a name the lexicon knows too (`Tiễn`/`Tiến`), the lexicon's liking for the
        # commoner one is no evidence about this page: two readings, two names, a person decides
        if rer_post >= lay_post:
            ev.value, ev.repaired, posterior = rer, True, rer_post
            ev.sources = ["reread", "lexicon"]
            ev.ocr_conf = max(ev.ocr_conf, conf)
            if lay_unknown == 0:
                ev.disagree += 1
                ev.doubtful = True
    else:
        ev.disagree += 1
        if rer_unknown < lay_unknown:
            ev.value, posterior = rer, rer_post
            ev.sources = ["reread", "lexicon"]
    return posterior


def _owner_birth_year(t: PageText, pg: PageImages, by: re.Match[str]) -> Evidence:
    s, e = by.start("y"), by.end("y")
    year, repaired = to_int(t.raw[s:e])
    mean, low = t.stats(s, e)
    box = t.box(s, e)
    ev = Evidence(OWNER + F.OWNER_BIRTH_YEAR, year, box, ["ocr"], mean, low, valid=year_ok(year), repaired=repaired)
    if box is not None:
        text, _, _ = pg.read(box, whitelist=DIGITS)
        year_again, _ = to_int(text)
        if year_again is not None and year_again == year:
            ev.agree += 1
            ev.sources.append("reread")
        elif year_again is not None:
            ev.disagree += 1
            # settled by a third reading (the eng model), as the ID number is; unsettled, held for review
            third, _ = to_int(pg.second_opinion(box, DIGITS)[0])
            if third == year_again and year_ok(third):
                ev.value, ev.valid, ev.sources, ev.agree = third, True, ["reread"], 1
            elif third == year and ev.valid:
                ev.agree += 1
                ev.sources.append("reread")
            else:
                ev.doubtful = True
                if not ev.valid and year_ok(year_again):
                    ev.value, ev.valid = year_again, True
    if not ev.valid and year is not None and len(str(year)) == 3:
        # one digit lost: the one plausible year holding the other three in order, never a certainty
        whole = [y for y in range(1880, date.today().year + 1) if _one_lost(str(y), str(year))]
        if len(whole) == 1:
            ev.value, ev.valid, ev.repaired, ev.doubtful = whole[0], True, True, True
    return ev


def _one_lost(full: str, part: str) -> bool:
    return any(full[:i] + full[i + 1 :] == part for i in range(len(full)))


def _owner_id_type(t: PageText, idm: re.Match[str]) -> Evidence:
    """CMND, CCCD or other, from the number's label (or, with the label garbled, the number's length)."""
    label = idm.group("label")
    digits_only = re.sub(r"\D", "", idm.group("num"))
    if re.search(r"cccd|can\s*cuoc|dinh\s*danh", label):
        id_type = "CCCD"
    elif re.search(r"cmnd|cmt", label):
        id_type = "CMND"
    elif re.search(r"cc|cd", label) or (idm.re is BARE_ID and len(digits_only) == 12):
        id_type = "CCCD"
    elif re.search(r"cm|nd", label) or (idm.re is BARE_ID and len(digits_only) == 9):
        id_type = "CMND"
    else:
        id_type = "other"
    lmean, llow = t.stats(idm.start("label"), idm.end("label"))
    return Evidence(OWNER + F.OWNER_ID_TYPE, id_type, t.box(idm.start("label"), idm.end("label")), ["ocr"], lmean, llow)


def _owner_id_number(t: PageText, pg: PageImages, idm: re.Match[str]) -> Evidence:
    """The number as read, then from its own region (digits whitelist); a disagreement is settled by a third
    reading from the eng model. `-/-` (no number) is a value of None."""
    s, e = idm.start("num"), idm.end("num")
    raw = t.raw[s:e]
    if re.fullmatch(r"-\s*/\s*-", raw.strip()):
        return Evidence(OWNER + F.OWNER_ID_NUMBER, None, t.box(s, e), ["ocr"], *t.stats(s, e))
    digits = re.sub(r"\s+", "", raw).translate(DIGIT_FIX)
    mean, low = t.stats(s, e)
    box = t.box(s, e)
    ev = Evidence(
        OWNER + F.OWNER_ID_NUMBER,
        digits,
        box,
        ["ocr"],
        mean,
        low,
        valid=len(digits) in (9, 12) and digits.isdigit(),
        repaired=digits != re.sub(r"\s+", "", raw),
    )
    if box is None:
        return ev
    text, conf, reading = pg.read(box, whitelist=DIGITS, choices=True)
    id_again = re.sub(r"\D", "", text)
    if not id_again:
        # its own region gave no digits (glare, a seal): a number read once has no second reading behind it,
        # and no check covers its last six digits
        ev.doubtful = True
    elif id_again == digits:
        ev.agree += 1
        ev.sources.append("reread")
        close = close_calls(reading, digits)
        if close:
            third = re.sub(r"\D", "", pg.second_opinion(box, DIGITS)[0])
            weigh_close_call(ev, digits, close, third)
    elif id_again:
        ev.disagree += 1
        third = re.sub(r"\D", "", pg.second_opinion(box, DIGITS)[0])
        if third == id_again and len(third) in (9, 12):
            ev.value, ev.valid, ev.sources, ev.agree = third, True, ["reread"], 1
        elif third == digits:
            ev.agree += 1
            ev.sources.append("reread")
        else:
            # the readings disagree three ways: whichever is kept goes to a person
            ev.doubtful = True
            if len(id_again) in (9, 12) and (not ev.valid or conf > ev.ocr_conf + 0.15):
                ev.value, ev.valid = id_again, True
                ev.sources = ["reread"]
    return ev


# a digit whose runner-up the recogniser gives at least this probability is a close call between two digits
CLOSE_CALL = 0.5


def close_calls(reading: Line | None, digits: str) -> dict[int, str]:
    """Positions of `digits` (as a re-read with the letters' alternatives gave them) where another digit was
    nearly as likely: position → that digit."""
    syms = [sym for w in (reading.words if reading is not None else []) for sym in w.symbols if sym.text.isdigit()]
    if "".join(sym.text for sym in syms) != digits:
        return {}
    out = {}
    for i, sym in enumerate(syms):
        other = next(((c, p) for c, p in sym.choices if c != sym.text and c.isdigit()), None)
        if other is not None and other[1] >= CLOSE_CALL:
            out[i] = other[0]
    return out


def weigh_close_call(ev: Evidence, digits: str, close: dict[int, str], third: str) -> None:
    """Two readings agreed on a number one of whose digits was a close call: a third reading (the eng
    model) backing it settles it; one giving the runner-up there is the other reading, and the number goes to
    a person (with the runner-up's digits where only close calls differ); any other answer leaves it unsure."""
    if third == digits or not third:
        return
    ev.disagree += 1
    ev.doubtful = True
    differ = [i for i, (a, b) in enumerate(zip(digits, third, strict=False)) if a != b]
    if len(third) == len(digits) and all(close.get(i) == third[i] for i in differ):
        ev.value, ev.repaired = third, True
        ev.sources.append("reread")


def _owner_address(t: PageText, pg: PageImages, am: re.Match[str], block_end: int) -> Evidence | None:
    f = t.fold
    s, e = am.end(), block_end
    # `Địa chỉ thường trú:` with its second half misread (`thường ưu:`): the label ends at its colon
    colon = f.find(":", am.start(), min(am.start() + 28, e))
    if colon >= s - 1 and not re.search(r"\d", f[s : colon + 1]):
        s = colon + 1
    # a co-owner whose title line OCR garbled (`Bài NGTRN ...`) was not split off: its year, ID or
    # address label inside this address ends it, right after the province the address ends with
    marks = [
        mm.start() for pat in (BIRTH_YEAR, OWNER_ID, ADDRESS_LABEL, OWNER_IN_ADDRESS) if (mm := pat.search(f, s, e))
    ]
    run_on = False
    if marks:
        mk = min(marks)
        provinces = list(PROVINCE_END.finditer(f, s, mk))
        if provinces:
            e, run_on = provinces[-1].end(), True
        elif t.line_index(mk) > t.line_index(s):
            e, run_on = t.line_start(t.line_index(mk)), True
    # a certified copy's stamp (`SAO Y BẢN CHÍNH`) printed over the line is no part of the address
    if stamp := _COPY_STAMP.search(f, s, e):
        e = stamp.start()
    raw = strip_item_marker(t.raw[s:e])
    # a lone small letter before the house number is a speck (a seal's rim, the label's last letter)
    if speck := re.match(r"\s*[a-zà-ỹđ]\s+(?=\S*\d)", raw):
        s, raw = s + speck.end(), raw[speck.end() :]
    # a wrapped address continues on a line of words; a line of specks (a seal's rim, the page edge in a
    # booklet photo: `|`, `!`) ends it
    cut = next((m.start() for m in re.finditer(r"\n([^\n]*)", raw) if not re.search(r"[^\W\d_]{2,}", m.group(1))), None)
    if cut is not None:
        raw = raw[:cut]
    trail = len(raw.rstrip(" \n;,."))
    text = clean(raw[:trail].replace("\n", " ")).strip(" ;,.")
    if not text:
        return None
    mean, low = t.stats(s, s + trail)
    value = canonical_address(text)
    ev = Evidence(
        OWNER + F.OWNER_ADDRESS, value, t.box(s, s + trail), ["ocr"], mean, low, repaired=run_on,
        valid=address_spelled_known(value),
    )  # fmt: skip
    check_house_number(ev, t, pg, s, s + trail)
    reread_street(ev, t, pg, s, s + trail)
    return ev


def _check_id(ev: Evidence, birth_year: Evidence | None, sex: str | None, warnings: list[str], index: int) -> None:
    """A number opens with its province's code (the 12-digit number's 3 digits, the CMND's 2), and the
    12-digit personal number encodes century+sex and the birth year's last two digits (domain.md). A prefix
    no province ever had is a misread digit far likelier than a number the list lacks."""
    num = ev.value
    if not isinstance(num, str) or len(num) not in (9, 12) or not num.isdigit():
        return
    prefix = num[:3] if len(num) == 12 else num[:2]
    if prefix not in (PROVINCE_CODES if len(num) == 12 else CMND9_PREFIXES):
        ev.check = -1
        warnings.append(f"owner_{index + 1}_id_number_structure: prefix {prefix} is no province's code")
        return
    if len(num) == 9:
        return
    g = int(num[3])
    if g > 5:
        ev.check = -1
        warnings.append(f"owner_{index + 1}_id_number_structure: century/sex digit {num[3]} is not 0-5")
        return
    encoded_year = 1900 + (g // 2) * 100 + int(num[4:6])
    encoded_sex = "female" if g % 2 else "male"
    ok = True
    year = birth_year.value if birth_year is not None else None
    if birth_year is not None and year is not None and encoded_year != year:
        ok = False
        # either may be the misread one: neither stands as a certainty
        birth_year.check = -1
        warnings.append(
            f"owner_{index + 1}_id_birth_year_mismatch: id_number encodes {encoded_year}, printed birth year {year}"
        )
    if sex is not None and encoded_sex != sex:
        ok = False
        warnings.append(f"owner_{index + 1}_id_sex_mismatch: id_number encodes {encoded_sex}, title implies {sex}")
    if not ok:
        ev.check = -1
    elif year is not None:
        ev.check = 1  # the birth year checks three digits; the title's sex alone one digit of twelve


def owner_score(owners: list[dict[str, Evidence]]) -> int:
    return sum(len(o) for o in owners)


def _owner_y(owner: dict[str, Evidence]) -> tuple[int, int] | None:
    """Where an owner's entry starts on the page: (top, height) of its name (or ID, or birth year) box."""
    for name in (F.OWNER_FULL_NAME, F.OWNER_ID_NUMBER, F.OWNER_BIRTH_YEAR, F.OWNER_ADDRESS):
        ev = owner.get(name)
        if ev is not None and ev.box is not None:
            return ev.box[1], max(1, ev.box[3])
    return None


def merge_owners(base: list[dict[str, Evidence]], other: list[dict[str, Evidence]]) -> list[dict[str, Evidence]]:
    """The owners of two readings of the section: `base`, plus those `other` found at a height where `base`
    has none (a co-owner whose title line one pass garbled and the other read), in page order."""
    ys = [y for o in base if (y := _owner_y(o)) is not None]
    merged = list(base)
    for o in other:
        oy = _owner_y(o)
        if oy is None or F.OWNER_FULL_NAME not in o or F.OWNER_ID_NUMBER not in o:
            continue
        if all(abs(oy[0] - y) > 1.5 * max(h, oy[1]) for y, h in ys):
            merged.append(o)
            ys.append(oy)
    return sorted(merged, key=lambda o: (_owner_y(o) or (10**9, 0))[0])


def rescue_owner_section(t: PageText, pg: PageImages, ocr: TextPage) -> PageText | None:
    """The owner lines read again as one block (psm 6, seal dropped) when the layout pass lost some."""
    sec = _owner_section(t)
    H = pg.grey.shape[0]
    end = OWNERS_END.search(t.fold, sec.end() if sec else 0)
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
    fresh = ocr_band(pg, y0, y1)
    kept = [ln for ln in ocr.lines if not (y0 <= ln.box[1] + ln.box[3] / 2 <= y1)]
    return PageText.of(TextPage.of_lines(kept + fresh))
