"""The certificate's codes: the serial (red, bottom right of page 1, voted on by four readings), the 2024
form's QR and 12-character code, the barcode on the 2009 form's last page."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from models import fields as F
from models.elements import Box, union
from worker.extract.gcn.evidence import Evidence
from worker.extract.gcn.form import SERIAL_FORMATS
from worker.extract.gcn.images import PageImages, red_text_box
from worker.extract.gcn.numbers import DIGIT_FIX, SERIAL_CHARS, parse_area
from worker.extract.gcn.patterns import CODE_RE, SERIAL_GAP_RE, SERIAL_RE
from worker.extract.gcn.text import PageText
from worker.extract.scan import PageScan

# a serial's digits as a photocopy's grey print reads them (O, I, l, S, B for 0, 1, 1, 5, 8)
_PHOTOCOPIED_SERIAL_RE = re.compile(r"[0-9OIlSB]{6}(?:[0-9OIlSB]{2})?")
# a reading of the red number alone, its letters lost
_DIGITS_ONLY_RE = re.compile(r"\s*\d{6}(?:\d{2})?\s*")


# the certificate code's label (`Mã giấy chứng nhận:`), on the 2024 form's page 1 and page 2
_CODE_LABEL = re.compile(r"ma\s*giay\s*chung\s*nhan\s*[:;.]?\s*")


def labelled_code(t: PageText) -> tuple[int, int] | None:
    """Where the 12-character code right after its label stands in t.raw."""
    m = _CODE_LABEL.search(t.fold)
    mm = CODE_RE.search(t.raw.upper(), m.end(), m.end() + 20) if m else None
    return mm.span() if mm else None


def printed_code(t: PageText, pg: PageImages, start: int, end: int, *, reread: bool = True) -> Evidence:
    """The code printed at t.raw[start:end]; with `reread` (no QR vouches for it) read again on its own."""
    ev = Evidence(F.CERTIFICATE_CODE, t.raw[start:end].upper(), t.box(start, end), ["ocr"], *t.stats(start, end))
    if reread and ev.box is not None:
        reread_code(pg, ev, ev.box)
    return ev


def reread_code(pg: PageImages, ev: Evidence, box: Box) -> None:
    """The printed code with no QR to vouch for it, read again on its own: twelve characters with no check
    digit, so a second reading that differs (a booklet photo's `8` read `R`) leaves it to a person."""
    text, _, _ = pg.read(box, whitelist=SERIAL_CHARS)
    again = re.sub(r"\s+", "", text).upper()
    if again == ev.value:
        ev.agree += 1
        ev.sources.append("reread")
    else:
        ev.disagree += 1
        ev.doubtful = True


def read_serial(
    t: PageText, pg: PageImages, form: str | None, h: int, warnings: list[str] | None = None
) -> Evidence | None:
    """The certificate serial, printed in red at the bottom right of page 1. Red print found there but no
    serial read off it is a warning (the registry's key is then missing, not guessed)."""
    ev = _layout_serial(t, pg, form, h)
    region = ev.box if ev else (_glued_serial_box(t, h) or red_text_box(pg, h))
    grey = ev is None and region is None
    if grey:
        region = _grey_serial_region(pg, h, form)
    if region is None:
        return ev
    if ev is not None and len(ev.value.split()[0]) == 1 and form != "gcn_pre2009":
        # one letter where the form prints two: the first was likely lost at the box's edge, so the
        # readings below look a letter further left
        x, y, w, hh = region
        region = (max(0, x - int(1.5 * hh)), y, w + int(1.5 * hh), hh)
    # the serial is the registry's key: three more readings (the vie model, and the eng model at two
    # text sizes, which is surer of Latin capitals and digits) vote with the layout pass
    votes: list[tuple[str, float, str]] = []
    if ev is not None:
        votes.append((ev.value, ev.ocr_conf, "ocr"))
    rereads, partials, digits_only = _reread_serial(pg, region)
    if grey:
        # a photocopy's grey serial the layout pass lost, likely under a copy stamp: read its darkest ink too
        dark = _reread_serial(pg, region, ink="dark")
        rereads, partials, digits_only = rereads + dark[0], partials + dark[1], digits_only or dark[2]
    votes += rereads
    if not votes:
        if digits_only and warnings is not None:
            warnings.append(
                "certificate_serial_incomplete: the red number at the page's foot was read without its letters"
            )
        elif warnings is not None:
            warnings.append("certificate_serial_unread: print where the serial stands, but no serial read off it")
        return ev
    return _vote_serial(ev, votes, partials, region, form)


def _layout_serial(t: PageText, pg: PageImages, form: str | None, h: int) -> Evidence | None:
    """The likeliest serial in the layout pass's text: low on the page, to the right, in the form's format,
    read with confidence."""
    best: tuple[float, Evidence] | None = None
    for m in SERIAL_RE.finditer(t.raw):
        letters, digits = m.group(1), m.group(2).translate(DIGIT_FIX)
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
            F.CERTIFICATE_SERIAL, f"{letters} {digits}", box, ["ocr"], mean, low, repaired=digits != m.group(2)
        )
        W = pg.grey.shape[1]
        fmt = SERIAL_FORMATS.get(form or "")
        # bottom right, in the form's format, read with confidence
        score = (
            y_rel + mean + 0.3 * (box[0] + box[2] / 2) / max(1, W) + (0.5 if fmt and fmt.fullmatch(cand.value) else 0)
        )
        if best is None or score > best[0]:
            best = (score, cand)
    return best[1] if best else None


def _grey_serial_region(pg: PageImages, h: int, form: str | None) -> Box | None:
    """A photocopy turns the red serial grey: find it in the bottom-right band as sparse text. A stamp over
    its end may leave only its letters and first digits read (`AT 850`): the region then runs on for the
    digits the form prints, at the width of those read."""
    W = pg.grey.shape[1]
    y0 = int(h * 0.75)
    band = pg.reader.read(pg.grey[y0 : int(h * 0.98), int(W * 0.5) :], psm=11)
    for line in band.lines:
        # the words of the serial only: the line box also holds whatever specks sit beside it
        for k, word in enumerate(line.words):
            letters = line.words[k - 1] if k and line.words[k - 1].text.isalpha() else None
            whole = _PHOTOCOPIED_SERIAL_RE.fullmatch(word.text) and sum(c.isdigit() for c in word.text) >= 4
            start = letters is not None and len(letters.text) <= 2 and _SERIAL_START_RE.fullmatch(word.text)
            if not (whole or start):
                continue
            parts = [word.box] + ([letters.box] if letters is not None else [])
            x, y, w, _ = union(parts)
            hh = min(p[3] for p in parts)  # a speck under a digit stretches its box
            if not whole:
                digits = 8 if form == "gcn_2024_qr" else 6
                w = word.box[0] + round(word.box[2] / len(word.text) * digits * 1.1) - x
            return (x + int(W * 0.5), y + y0, w, hh)
    return None


# a serial's first digits, the rest lost under a stamp (`850` of `AI 850051`)
_SERIAL_START_RE = re.compile(r"[0-9][0-9OIlSB]{2,5}")


_ENG = "eng"
# the eng model's readings, told apart from the vie model's in the vote (reported as `reread` like them)
_ENG_REREAD = "reread_eng"


def _reread_serial(
    pg: PageImages, region: Box, ink: str = "red"
) -> tuple[list[tuple[str, float, str]], list[str], bool]:
    """The serial read again in `region`: with the vie model, and the eng model at two text sizes. Also the
    readings with a digit lost or added (no vote, but they may contradict one), and whether any reading
    found the digits without letters."""
    votes: list[tuple[str, float, str]] = []
    partials: list[str] = []
    digits_only = False
    for lang, zoom in ((None, 1.0), (_ENG, 1.0), (_ENG, 1.6)):
        text, conf, _ = pg.read(region, whitelist=SERIAL_CHARS, ink=ink, lang=lang, zoom=zoom)
        digits_only = digits_only or bool(_DIGITS_ONLY_RE.fullmatch(text))
        # the eng model sometimes reads the gap after the letters as `L`/`I` (`AIL575839`)
        sm = SERIAL_RE.search(re.sub(r"\s+", " ", text.upper())) or SERIAL_GAP_RE.search(text.upper())
        if sm and sm.group(2).translate(DIGIT_FIX).isdigit():
            votes.append((f"{sm.group(1)} {sm.group(2).translate(DIGIT_FIX)}", conf, _ENG_REREAD if lang else "reread"))
        elif pm := _PARTIAL_SERIAL.search(text.upper()):
            partials.append(pm.group(1).translate(DIGIT_FIX))
    return votes, partials, digits_only


def _vote_serial(
    ev: Evidence | None, votes: list[tuple[str, float, str]], partials: list[str], region: Box, form: str | None
) -> Evidence:
    """The value most readings agree on (then the one in the form's format, then the layout pass's), with
    the count of readings for and against it (a partial reading that saw another digit counts against)."""
    fmt = SERIAL_FORMATS.get(form or "")
    if form != "gcn_pre2009":
        # `E 652680` beside `CE 652680`: the same serial with its first letter dropped (only the 1993 form
        # prints one letter), so it backs the complete reading
        full = {v for v, _, _ in votes if len(v.split()[0]) == 2}
        votes = [
            (next((f for f in full if f.endswith(v) and len(v.split()[0]) == 1), v), c, src) for v, c, src in votes
        ]
    tally: dict[str, list[tuple[float, str]]] = {}
    for value, conf, src in votes:
        tally.setdefault(value, []).append((conf, src))
    # as many readings for two values: the one both models read beats the eng model's twice (its two text
    # sizes are one opinion)
    best_value = max(
        tally,
        key=lambda v: (
            len(tally[v]),
            len({src == _ENG_REREAD for _, src in tally[v]}),
            bool(fmt and fmt.fullmatch(v)),
            "ocr" in [s for _, s in tally[v]],
        ),
    )
    backers = tally[best_value]
    confs = [c for c, _ in backers]
    if ev is None:
        ev = Evidence(F.CERTIFICATE_SERIAL, best_value, region, [], max(confs), min(confs))
    elif ev.value != best_value:
        ev.value, ev.ocr_conf, ev.min_conf, ev.repaired = best_value, max(confs), min(confs), False
    ev.sources = sorted({"reread" if src == _ENG_REREAD else src for _, src in backers})
    ev.agree = len(backers) - 1
    ev.disagree = len(votes) - len(backers)
    if ev.disagree and {src for _, src in backers} == {_ENG_REREAD}:
        # the eng model at two text sizes is one opinion: against another reading's complete serial (a
        # blurred photo: `H 610412` twice by eng, `H 810412` by vie) it settles nothing
        ev.check = -1
    if any(len(tally[v]) >= len(backers) for v in tally if v != best_value):
        ev.check = -1  # another value had as many readings: a tie broken by which models read it is no certainty
    digits = ev.value.split()[-1]
    conflicts = [p for p in partials if p not in digits and digits not in p]
    if conflicts:
        # `DL 07192` beside `DL 071995`: a reading that lost a digit still saw another one, so the
        # readings that agree may share one misread (the eng model at two sizes is one opinion)
        ev.disagree += len(conflicts)
        ev.check = -1
    if form in SERIAL_FORMATS:
        ev.valid = bool(SERIAL_FORMATS[form].fullmatch(ev.value))
    elif len(ev.value.split()[0]) == 1:
        ev.valid = False  # one letter: the 1993 form's, or a first letter lost; the form does not say which
    return ev


# the serial with its letters run into its digits and a speck read as a third letter (`CTI457159`): no
# value, but the place to read it again
_GLUED_SERIAL = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2,3}[0-9][0-9OIlSB]{5}(?:[0-9OIlSB]{2})?(?![0-9A-Za-z])")


def _glued_serial_box(t: PageText, h: int) -> Box | None:
    for m in _GLUED_SERIAL.finditer(t.raw):
        box = t.box(m.start(), m.end())
        if box is not None and (box[1] + box[3] / 2) / max(1, h) >= 0.6:
            return box
    return None


# letters, then digits: a serial reading with a digit lost or run on (`DL 07192`, `DL 0719255`)
_PARTIAL_SERIAL = re.compile(r"(?<![A-Z0-9])[A-Z]{1,2}\s?([0-9][0-9OIlSB]{3,8})(?![0-9])")


def _parse_qr(payload: str) -> dict[str, Any]:
    """Fields recognisable in a certificate QR payload. The real format is unconfirmed (domain.md), so a
    field is taken only when its position and shape both fit the pipe-separated layout
    `code|serial|commune|sheet|parcel|area`; anything else leaves just the raw payload."""
    parts = payload.split("|")
    out: dict[str, Any] = {}
    if len(parts) >= 6:
        code, serial, commune, sheet, parcel, area = (p.strip() for p in parts[:6])
        if re.fullmatch(r"[0-9A-Z]{12}", code):
            out[F.CERTIFICATE_CODE] = code
        if re.fullmatch(r"[A-Z]{2} ?\d{6,8}", serial):
            out[F.CERTIFICATE_SERIAL] = serial if " " in serial else f"{serial[:2]} {serial[2:]}"
        if re.fullmatch(r"\d{5}", commune):
            out["commune_code"] = commune
        if sheet.isdigit():
            out[F.MAP_SHEET_NUMBER] = int(sheet)
        if parcel.isdigit():
            out[F.PARCEL_NUMBER] = int(parcel)
        value, _ = parse_area(area + " m")
        if value is not None:
            out[F.AREA_M2] = float(value)
    return out


def read_codes(
    t: PageText, pg: PageImages, scan: PageScan, fields: dict[str, Evidence], warnings: list[str]
) -> dict[str, Any]:
    """The page's QR (2024 form) and the 12-character certificate code printed under it."""
    h = scan.colour.shape[0]
    # the QR is in the top-left corner of page 1
    codes = scan.qr_codes_in(right=0.5, bottom=0.25)
    qr: dict[str, Any] = {}
    if codes:
        payload = codes[0].text
        box = codes[0].box
        fields[F.QR_PAYLOAD] = Evidence(
            F.QR_PAYLOAD,
            payload,
            (int(box[0] / pg.fx), int(box[1] / pg.fy), int(box[2] / pg.fx), int(box[3] / pg.fy)),
            ["qr"],
            1.0,
            1.0,
        )
        qr = _parse_qr(payload)
    labelled = labelled_code(t)
    cands: list[tuple[int, int]] = [labelled] if labelled else []
    limit = len(t.raw) if _CODE_LABEL.search(t.fold) else t.raw.find("\n", t.raw.find("\n") + 1) + 1
    for mm in CODE_RE.finditer(t.raw[: max(limit, 0) or len(t.raw)]):
        bx = t.box(mm.start(), mm.end())
        if bx is not None and bx[1] < h / pg.fy * 0.2:
            cands.append((mm.start(), mm.end()))
    if cands:
        fields[F.CERTIFICATE_CODE] = printed_code(t, pg, *cands[0], reread=F.CERTIFICATE_CODE not in qr)
    if F.CERTIFICATE_CODE in qr:
        ev_c = fields.get(F.CERTIFICATE_CODE)
        if ev_c is None:
            fields[F.CERTIFICATE_CODE] = Evidence(F.CERTIFICATE_CODE, qr[F.CERTIFICATE_CODE], None, ["qr"], 1.0, 1.0)
        elif ev_c.value == qr[F.CERTIFICATE_CODE]:
            ev_c.agree += 1
            ev_c.sources.append("qr")
        else:
            warnings.append(f"certificate_code_qr_mismatch: printed {ev_c.value} vs QR {qr['certificate_code']}")
            ev_c.value, ev_c.sources, ev_c.disagree = qr[F.CERTIFICATE_CODE], ["qr"], 1
    return qr


def apply_qr(fields: dict[str, Evidence], qr: dict[str, Any], warnings: list[str]) -> None:
    """The QR carries its own error correction: where it and the print agree both are right; where they
    differ the QR wins and the disagreement is a warning for review."""
    for name in (F.CERTIFICATE_SERIAL, F.MAP_SHEET_NUMBER, F.PARCEL_NUMBER, F.AREA_M2):
        if name not in qr:
            continue
        ev = fields.get(name)
        q = qr[name]
        if ev is None:
            fields[name] = Evidence(name, q, None, ["qr"], 1.0, 1.0, agree=1)
            continue
        same = abs(float(ev.value) - float(q)) < 0.05 if name == F.AREA_M2 else ev.value == q
        if same:
            ev.agree += 1
            ev.sources.append("qr")
            ev.check = max(ev.check, 1)
        else:
            warnings.append(f"{name}_qr_mismatch: printed {ev.value} vs QR {q}")
            ev.value, ev.sources, ev.disagree, ev.check = q, ["qr"], 1, 0
            # the QR's own error correction vouches for its characters; the mismatch stays a warning
            ev.agree, ev.repaired, ev.ocr_conf, ev.min_conf = 1, False, 1.0, 1.0
            ev.valid = name != F.CERTIFICATE_SERIAL or bool(SERIAL_FORMATS["gcn_2024_qr"].fullmatch(str(q)))


def read_barcode(pg: PageImages, scan: PageScan, fields: dict[str, Evidence]) -> None:
    """The barcode on the last page of the 2009 form: [2-digit province code] + 5-digit commune code +
    2-digit issue year + 6-digit file number (domain.md). Its check digits make a decode trustworthy."""
    for code in scan.codes():
        digits = code.text.strip()
        if code.format == "QRCode" or not re.fullmatch(r"\d{13}|\d{15}", digits):
            continue
        box = tuple(int(v) for v in code.box)
        layout_box = (int(box[0] / pg.fx), int(box[1] / pg.fy), int(box[2] / pg.fx), int(box[3] / pg.fy))
        body = digits[2:] if len(digits) == 15 else digits
        fields[F.BARCODE] = Evidence(F.BARCODE, digits, layout_box, ["barcode"], 1.0, 1.0, agree=1)
        fields[F.BARCODE_COMMUNE_CODE] = Evidence(
            F.BARCODE_COMMUNE_CODE, body[:5], layout_box, ["barcode"], 1.0, 1.0, agree=1
        )
        year = int(body[5:7])
        full_year = 2000 + year if year <= date.today().year % 100 else 1900 + year
        fields[F.BARCODE_ISSUE_YEAR] = Evidence(
            F.BARCODE_ISSUE_YEAR, full_year, layout_box, ["barcode"], 1.0, 1.0, agree=1
        )
        return
