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

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from models import fields as F
from models.document import FieldValue
from models.elements import TextPage
from worker.extract import validate as v
from worker.extract.idcard.checks import validate_card
from worker.extract.idcard.evidence import MRZ_NAME, REPAIRED_CAP, Features, Reading, score
from worker.extract.idcard.issuer import add_issuer_rule, read_issuer
from worker.extract.idcard.labels import split_colons
from worker.extract.idcard.numbers import (
    read_date_field,
    read_id_number,
    read_issue_date_region,
    read_issue_date_words,
)
from worker.extract.idcard.plausible import address_evidence, junk_words, name_evidence, repair_mrz_name_line
from worker.extract.idcard.qrprint import print_shaped
from worker.extract.idcard.rows import read_rows, shifted_line
from worker.extract.idcard.text import (
    clean_name,
    clean_value,
    correct_name_reading,
    nationality_without_label,
    read_sex,
    read_text_field,
)
from worker.extract.idcard.vote import add_consensus, add_reading, cross_check_years, decide, iso_date, vote
from worker.ocr import CccdQr, MrzResult, Reader
from worker.vntext import name_key

# which fields each generation prints on each side (what is searched for; the rest comes from QR/MRZ)
PRINTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("cmnd_9", "front"): (F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_BIRTH, F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE),
    ("cmnd_9", "back"): (F.PERSONAL_IDENTIFICATION, F.ISSUE_DATE, F.ISSUER, F.ETHNICITY),
    ("cmnd_12", "front"): (F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_BIRTH, F.SEX, F.ETHNICITY, F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.DATE_OF_EXPIRY),
    ("cmnd_12", "back"): (F.PERSONAL_IDENTIFICATION, F.ISSUE_DATE, F.ISSUER),
    ("cccd_barcode_2016", "front"): (F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_BIRTH, F.SEX, F.NATIONALITY, F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.DATE_OF_EXPIRY),
    ("cccd_barcode_2016", "back"): (F.PERSONAL_IDENTIFICATION, F.ISSUE_DATE, F.ISSUER),
    ("cccd_chip_2021", "front"): (F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_BIRTH, F.SEX, F.NATIONALITY, F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.DATE_OF_EXPIRY),
    ("cccd_chip_2021", "back"): (F.PERSONAL_IDENTIFICATION, F.ISSUE_DATE, F.ISSUER),
    ("cancuoc_2024", "front"): (F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_BIRTH, F.SEX, F.NATIONALITY),
    ("cancuoc_2024", "back"): (F.PLACE_OF_RESIDENCE, F.PLACE_OF_BIRTH, F.ISSUE_DATE, F.DATE_OF_EXPIRY, F.ISSUER),
}  # fmt: skip


# the fronts whose place values are found under their labels by geometry (band.py)
_BANDED = frozenset({"cccd_chip_2021", "cccd_barcode_2016"})
MULTILINE = {F.PLACE_OF_ORIGIN: 2, F.PLACE_OF_RESIDENCE: 3, F.PLACE_OF_BIRTH: 2, F.PERSONAL_IDENTIFICATION: 2}


def machine_readable_fields(qr: CccdQr | None, mrz: MrzResult | None) -> set[str]:
    """Fields a decoded QR or a zone that passes every check gives outright: not worth a second layout
    pass (~0.13 s on a card) when the printed line was lost."""
    out: set[str] = set()
    if qr is not None:
        out |= {F.ID_NUMBER, F.FULL_NAME, F.PLACE_OF_RESIDENCE}
        out |= {
            name
            for name, v in ((F.DATE_OF_BIRTH, qr.date_of_birth), (F.SEX, qr.sex), (F.ISSUE_DATE, qr.issue_date))
            if v
        }
    if mrz is not None and mrz.valid:
        out |= {
            name
            for name, v in (
                (F.ID_NUMBER, mrz.id_number),
                (F.DATE_OF_BIRTH, mrz.birth_date),
                (F.SEX, mrz.sex),
                (F.DATE_OF_EXPIRY, mrz.expiry_date),
            )
            if v
        }
    return out


def qr_values(qr: CccdQr | None) -> dict[str, str]:
    """The number, dates and sex a decoded QR gives, as readings of the print spell them. Where the layout
    pass read the print the same, the field is settled (the QR outweighs any number of readings in the
    vote, vote.VOTE, and the print confirms it): its region is not read again. The name and the residence
    are read again all the same: the print words them (qrprint.py) and spells the name the confidence
    model weighs."""
    if qr is None:
        return {}
    given = {
        F.ID_NUMBER: qr.id_number,
        F.DATE_OF_BIRTH: qr.date_of_birth.isoformat() if qr.date_of_birth else None,
        F.SEX: qr.sex,
        F.ISSUE_DATE: qr.issue_date.isoformat() if qr.issue_date else None,
    }
    return {name: value for name, value in given.items() if value}


# fields worth a second layout pass when the first found none of them
# (not the nationality: the law gives a citizen's card's, a second pass to read it would only confirm it)
_SECOND_PASS = frozenset(
    {F.ID_NUMBER, F.FULL_NAME, F.DATE_OF_BIRTH, F.SEX, F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE,
     F.PLACE_OF_BIRTH, F.DATE_OF_EXPIRY, F.ISSUE_DATE}
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
    *,
    reread: bool = True,
) -> list[Reading]:
    """Every OCR reading of one printed field (layout pass, region re-reads, lexicon); without `reread`, a
    number, date or sex the layout pass's reading alone."""
    if name == F.ID_NUMBER:
        return read_id_number(reader, img, layout, generation, colour, reread=reread)
    if name in (F.DATE_OF_BIRTH, F.DATE_OF_EXPIRY):
        return read_date_field(reader, img, layout, name, reread=reread)
    if name == F.ISSUE_DATE:
        found = read_date_field(reader, img, layout, name, reread=reread) or read_issue_date_words(layout)
        return found or (read_issue_date_region(reader, img) if reread else [])
    if name == F.SEX:
        return read_sex(reader, img, layout, reread=reread)
    if name == F.ISSUER:
        return read_issuer(reader, img, layout, colour, issuer_text, generation)
    if name == F.FULL_NAME:
        rs, name_reads = read_text_field(reader, img, layout, name, max_lines=2, choices=True)
        for r in rs:
            r.value = clean_name(str(r.value))
        if name_reads:
            agreed = [str(r.value) for r in rs if r.source in ("layout", "ocr")]
            corrected, post, changes = correct_name_reading(name_reads, agreed)
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
    band = generation in _BANDED
    rs, _ = read_text_field(reader, img, layout, name, max_lines=MULTILINE.get(name, 1), band=band)
    for r in rs:
        r.value = clean_value(name, str(r.value))
    if name == F.NATIONALITY and not _has_value(rs):
        rs = nationality_without_label(layout)
    return rs


@dataclass
class CardResult:
    fields: dict[str, FieldValue]
    warnings: list[str]
    # the evidence behind each field's confidence (the benchmark fits the calibration on it)
    features: dict[str, Features] = field(default_factory=dict)


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
    generation_confidence: float = 1.0,
) -> CardResult:
    """Fields of one card side (img: the greyscale OCR image the layout pass was run on; colour: BGR).
    `generation_confidence`: how sure the caller is of `generation` (1.0 when it is given, not inferred)."""
    printed = PRINTED.get((generation, side), PRINTED[("cccd_chip_2021", side)])
    warnings: list[str] = []
    if generation in _BANDED:
        layout = split_colons(layout)
    cmnd_front = (generation, side) == ("cmnd_9", "front") and colour is not None and colour.ndim == 3
    rows_colour = colour if cmnd_front else None
    readings = _read_print(reader, img, layout, generation, printed, colour, issuer_text, qr, mrz, rows_colour)
    cross_check_years(readings)
    for name in (F.ID_NUMBER, F.DATE_OF_BIRTH, F.DATE_OF_EXPIRY, F.ISSUE_DATE):
        add_consensus(readings, name)
    if side == "front":
        _add_sex_from_number(readings, generation)
    if qr is not None:
        _add_qr(readings, qr)
    if mrz is not None and mrz.checks.get("composite") is not None:
        _add_mrz(readings, mrz, warnings)
    if F.ISSUER in printed and not readings.get(F.ISSUER):
        add_issuer_rule(readings, generation)
    if F.NATIONALITY in printed:
        _nationality_by_law(readings)
    fields, features = decide(readings, warnings)
    validate_card(fields, features, warnings, generation)
    for name, f in features.items():
        f.typewriter = generation == "cmnd_9"
        f.red_print = generation == "cccd_barcode_2016" and name == F.ID_NUMBER
        f.by_law = name == F.NATIONALITY and "rule" in f.sources
        value = fields[name].value if name in fields else None
        if isinstance(value, str) and value:
            _text_evidence(name, value, f)
        if name in fields:
            fields[name].confidence = score(f)
    if F.DATE_OF_EXPIRY in printed and F.DATE_OF_EXPIRY not in fields:
        _expiry_by_rule(fields, generation, warnings)
    if F.PLACE_OF_RESIDENCE in fields and F.PLACE_OF_RESIDENCE_NORMALISED in fields:
        fields[F.PLACE_OF_RESIDENCE_NORMALISED].confidence = fields[F.PLACE_OF_RESIDENCE].confidence
    fields[F.CARD_GENERATION] = FieldValue(value=generation, confidence=generation_confidence, sources=["classify"])
    issuer = fields.get(F.ISSUER)
    if issuer is not None and issuer.sources == ["rule"]:
        # the issuer the generation's cards carry, nothing read: no surer than the generation
        issuer.confidence = min(issuer.confidence, generation_confidence)
    return CardResult(fields, warnings, features)


# the one nationality a citizen's card can carry: CCCD and Căn cước are issued to Vietnamese citizens only
# (Law on Citizen Identification 2014, art. 19; Law on Identification 2023, art. 19)
CITIZENS_NATIONALITY = "Việt Nam"


def _nationality_by_law(readings: dict[str, list[Reading]]) -> None:
    """Any other reading of the nationality line is a misread (or another line taken for it), and a card
    whose line was lost still states it."""
    kept = [r for r in readings.get(F.NATIONALITY, []) if r.value == CITIZENS_NATIONALITY]
    readings[F.NATIONALITY] = [*kept, Reading(CITIZENS_NATIONALITY, "rule", 0.0, 0.0, valid=True)]


# the years each generation was issued in (domain.md, widened to the circulars' first and last days): the
# age rule gives one expiry for a birth date whatever the day of issue, unless a milestone falls near them
ISSUED = {
    "cccd_barcode_2016": (date(2016, 1, 1), date(2021, 6, 30)),
    "cccd_chip_2021": (date(2021, 1, 1), date(2024, 6, 30)),
}
# an expiry no reading saw, given by the rule from the birth date: right whenever that date and the card's
# generation are, and never surer than a value a rule repaired
EXPIRY_BY_RULE_CAP = REPAIRED_CAP


def _expiry_by_rule(fields: dict[str, FieldValue], generation: str, warnings: list[str]) -> None:
    """The expiry line lost (glare under the photo, a cut-off corner): the age rule's one date for the
    holder's birth date and the generation's issuing years."""
    dob = fields.get(F.DATE_OF_BIRTH)
    born = iso_date(dob.value) if dob is not None else None
    if dob is None or born is None or generation not in ISSUED:
        return
    expiry = v.expiry_by_rule(born, *ISSUED[generation])
    if expiry is None:
        return
    fields[F.DATE_OF_EXPIRY] = FieldValue(
        value=expiry.isoformat(),
        confidence=round(min(EXPIRY_BY_RULE_CAP, dob.confidence), 4),
        sources=["rule"],
    )
    warnings.append(
        f"date_of_expiry_by_rule: not read; the age rule gives {expiry.isoformat()} for the birth date on a card "
        f"issued {ISSUED[generation][0].year}-{ISSUED[generation][1].year}"
    )


_ADDRESSES = (F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE, F.PLACE_OF_BIRTH)


def _text_evidence(name: str, value: str, f: Features) -> None:
    if name in _ADDRESSES:
        e = address_evidence(value)
        f.places, f.junk, f.unchecked = e.places, e.junk, e.unchecked
    elif name == F.FULL_NAME:
        f.junk = name_evidence(value).junk
    elif name in (F.NATIONALITY, F.ETHNICITY):
        f.junk = junk_words(value)


def _read_print(
    reader: Reader,
    img: np.ndarray,
    layout: TextPage,
    generation: str,
    printed: tuple[str, ...],
    colour: np.ndarray | None,
    issuer_text: str | None,
    qr: CccdQr | None,
    mrz: MrzResult | None,
    rows_colour: np.ndarray | None = None,
) -> dict[str, list[Reading]]:
    """Every OCR reading of the fields the card prints (with `rows_colour`, a CMND front's colour image, its
    rows found in the ink too, before a second layout pass is made for what both lost)."""
    readings: dict[str, list[Reading]] = {}
    coded = qr_values(qr)
    # a value the rows' readings replace is read from the layout pass only if the rows lose it (below)
    deferred = [n for n in printed if n in _ROWS_REPLACE and n not in coded] if rows_colour is not None else []
    for name in printed:
        if name in deferred:
            readings[name] = []  # its place in the fields' order
            continue
        found = _read_printed(reader, name, img, layout, generation, colour, issuer_text, reread=name not in coded)
        if name in coded and not any(r.valid and r.value == coded[name] for r in found):
            # the print as the layout pass read it does not confirm the QR (a misread, or a QR of another card)
            found = _read_printed(reader, name, img, layout, generation, colour, issuer_text)
        readings[name] = found
    if rows_colour is not None:
        _read_form_rows(reader, layout, rows_colour, printed, readings)
        for name in deferred:
            if not _has_value(readings[name]):
                readings[name] = _read_printed(reader, name, img, layout, generation, colour, issuer_text)
    machine_read = machine_readable_fields(qr, mrz)
    if sex_from_number(readings, generation) is not None:
        # the number's sex digit gives the value a lost sex label would: not worth a whole-card pass (~0.2 s)
        machine_read.add(F.SEX)
    missing = [
        n for n in printed if n in _SECOND_PASS and n not in machine_read and not _has_value(readings.get(n, []))
    ]
    if missing:
        # the layout pass lost a field (a faint label, a value merged into its label's line): a second
        # layout pass that takes the card as one block of text segments it differently; the expiry alone
        # needs only the corner it is printed in (a third of the card's cost)
        block = _expiry_corner_pass(reader, img) if missing == [F.DATE_OF_EXPIRY] else reader.read(img, psm=6)
        for name in missing:
            again = _read_printed(reader, name, img, block, generation, colour, issuer_text)
            if _has_value(again):
                readings[name] = again
    return readings


# where every generation prints its expiry: under the photo, in the lower left of the card (shares of the
# image, wide enough for a card photographed with a margin of table round it)
EXPIRY_CORNER = (0.6, 0.6)  # top, right


def _expiry_corner_pass(reader: Reader, img: np.ndarray) -> TextPage:
    """The second layout pass over the lower left corner alone, its boxes in the card image's coordinates."""
    h, w = img.shape[:2]
    top, right = int(EXPIRY_CORNER[0] * h), int(EXPIRY_CORNER[1] * w)
    page = reader.read(img[top:, :right], psm=6)
    return TextPage.of_lines([shifted_line(line, 0, top) for line in page.lines])


def _read_form_rows(
    reader: Reader, layout: TextPage, colour: np.ndarray, printed: tuple[str, ...], readings: dict[str, list[Reading]]
) -> None:
    """The CMND front's fields again from its text rows found in the ink (rows.py): the layout pass drops
    rows of this form. The rows' readings join the layout pass's in the vote, after them (a tie goes to the
    layout pass, which reads a clean card's print as well), and replace a name's (the lexicon's reading
    is taken by its source, so two passes' readings would not vote)."""
    rows = read_rows(reader, colour, layout)
    for name in printed:
        settles = name in _SETTLED_BY_REREADS
        found = _read_printed(reader, name, rows.image, rows.page, "cmnd_9", colour, None, reread=not settles)
        if settles and not _settled_by_rereads(readings.get(name, []) + found):
            found = _read_printed(reader, name, rows.image, rows.page, "cmnd_9", colour, None)
        if not _has_value(found):
            continue
        # the name's readings decide among themselves (the lexicon's by source); elsewhere both passes vote
        if name in _ROWS_REPLACE or not _has_value(readings.get(name, [])):
            readings[name] = found
        else:
            readings[name] = readings[name] + found


# the values the rows' readings replace rather than join: the layout pass's name (its re-reads with the
# recogniser's choices, its lexicon search) would be thrown away whenever the rows give one, so it is
# read only for a card whose rows lose the name (_read_print)
_ROWS_REPLACE = frozenset({F.FULL_NAME})
_SETTLING = ("layout", "ocr", "ocr_eng")
_SETTLED_BY_REREADS = frozenset({F.ID_NUMBER, F.DATE_OF_BIRTH, F.DATE_OF_EXPIRY, F.ISSUE_DATE})


def _settled_by_rereads(rs: list[Reading]) -> bool:
    """A number or date whose valid readings all agree, among them a layout reading (the layout pass's or
    the rows' own), its whitelisted re-read and the `eng` model's (numbers.settled): the rows' re-reads of
    its region would be more readings of it that could dissent only by misreading, and be outvoted."""
    valid = [r for r in rs if r.valid and r.value not in (None, "")]
    return set(_SETTLING) <= {r.source for r in valid} and len({str(r.value) for r in valid}) == 1


def sex_from_number(readings: dict[str, list[Reading]], generation: str) -> str | None:
    """The sex the 12-digit number's readings encode (None on a 9-digit card, or no such number read)."""
    if generation == "cmnd_9":
        return None
    numbers = [r for r in readings.get(F.ID_NUMBER, []) if r.valid and isinstance(r.value, str)]
    number = str(vote(numbers, F.ID_NUMBER).value) if numbers else ""
    info = v.decode_id12(number)
    return str(info["sex"]) if info is not None and int(number[3]) <= 5 else None


def _add_sex_from_number(readings: dict[str, list[Reading]], generation: str) -> None:
    """The 12-digit number encodes the sex: weak evidence (the number may be misread) but independent."""
    sex = sex_from_number(readings, generation)
    if sex is not None:
        add_reading(readings, F.SEX, Reading(sex, "id_number", 0.0, 0.0, valid=True))


def _add_qr(readings: dict[str, list[Reading]], qr: CccdQr) -> None:
    for name, value in qr_values(qr).items():
        add_reading(readings, name, Reading(value, "qr", 1.0, 1.0))
    if qr.old_id_number:
        add_reading(readings, F.OLD_ID_NUMBER, Reading(qr.old_id_number, "qr", 1.0, 1.0))
    add_reading(readings, F.FULL_NAME, Reading(qr.full_name, "qr", 1.0, 1.0))
    add_reading(readings, F.PLACE_OF_RESIDENCE, _qr_residence(qr.place_of_residence, readings))


def _qr_residence(value: str, readings: dict[str, list[Reading]]) -> Reading:
    """The QR's residence, worded as a reading of the print words it (qrprint.py); a value that drops words
    of the QR on one reading's word counts as repaired (it cannot be surer than that reading)."""
    printed = [r for r in readings.get(F.PLACE_OF_RESIDENCE, []) if r.source in ("ocr", "layout") and r.value]
    for r in sorted(printed, key=lambda r: r.source != "ocr"):
        shaped = print_shaped(value, str(r.value))
        if shaped and name_key(shaped) != name_key(value):
            return Reading(shaped, "qr", 1.0, 1.0, extra={"reworded": 1.0})
        if shaped:
            break
    return Reading(value, "qr", 1.0, 1.0)


# which fields a repair note of the zone (worker/ocr/mrz.py) concerns: a check digit repaired one of them, or a
# realigned line shifted them
_MRZ_REPAIR_FIELDS: dict[str, tuple[str, ...]] = {
    "document_number": (F.ID_NUMBER,),
    "personal_number": (F.ID_NUMBER,),
    "birth_date": (F.DATE_OF_BIRTH,),
    "expiry_date": (F.DATE_OF_EXPIRY,),
    "line 1": (F.ID_NUMBER,),
    "line 2": (F.DATE_OF_BIRTH, F.SEX, F.DATE_OF_EXPIRY),
}


def _add_mrz(readings: dict[str, list[Reading]], mrz: MrzResult, warnings: list[str]) -> None:
    """The zone's fields; a zone that fails a check counts less, and only its fields that checked. What the
    zone's confidence rests on is its checks and how much was repaired to pass them, never a constant."""
    ok = mrz.valid
    char_conf = 1.0 if ok else 0.6

    def zone(name: str, value: object) -> Reading:
        repairs = sum(name in _MRZ_REPAIR_FIELDS.get(note.split(":")[0], ()) for note in mrz.repairs)
        return Reading(value, "mrz", char_conf, valid=ok, extra={"repairs": float(repairs)})

    if mrz.id_number and (ok or mrz.checks.get("personal_number")):
        add_reading(readings, F.ID_NUMBER, zone(F.ID_NUMBER, mrz.id_number))
    if mrz.birth_date and (ok or mrz.checks.get("birth_date")):
        add_reading(readings, F.DATE_OF_BIRTH, zone(F.DATE_OF_BIRTH, mrz.birth_date.isoformat()))
    if mrz.sex:
        add_reading(readings, F.SEX, zone(F.SEX, mrz.sex))
    if ok or mrz.checks.get("expiry_date"):
        expiry = mrz.expiry_date.isoformat() if mrz.expiry_date else None
        add_reading(readings, F.DATE_OF_EXPIRY, zone(F.DATE_OF_EXPIRY, expiry))
    evidence = {"repairs": float(len(mrz.repairs))}
    lines = list(mrz.lines)
    name = mrz.full_name
    if len(lines) == 3:
        line3, fillers = repair_mrz_name_line(lines[2])
        if fillers:
            lines[2] = line3
            surname, _, given = line3.rstrip("<").partition("<<")
            name = " ".join(p for p in (surname.replace("<", " ").strip(), given.replace("<", " ").strip()) if p)
            warnings.append(f"mrz_name_repaired: {fillers} filler(s) read as letters put back")
        evidence = {"repairs": float(len(mrz.repairs) + fillers), "junk": float(junk_words(name))}
    readings[F.MRZ] = [Reading(lines, "mrz", 1.0 if ok else 0.5, valid=ok, extra=evidence)]
    if name:
        readings[MRZ_NAME] = [Reading(name, "mrz", 1.0 if ok else 0.5, valid=ok)]
    if not ok:
        failed = sorted(k for k, passed in mrz.checks.items() if not passed)
        warnings.append(f"mrz_check_failed: {', '.join(failed) or 'ambiguous repair'}")
