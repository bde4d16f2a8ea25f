"""Validation of one card's fields (number structure, dates that exist, the expiry rule) and the checks
between the cards of one submission (front against back, one person's numbers across cards)."""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from models import fields as F
from models.document import Document, FieldValue
from worker.extract import lexicon
from worker.extract import validate as v
from worker.extract.classify import CARD_TYPES
from worker.extract.idcard.evidence import Features
from worker.extract.idcard.vote import iso_date
from worker.vntext import name_key


def validate_card(
    fields: dict[str, FieldValue], features: dict[str, Features], warnings: list[str], generation: str
) -> None:
    idv = fields.get(F.ID_NUMBER)
    dob = iso_date(fields[F.DATE_OF_BIRTH].value) if F.DATE_OF_BIRTH in fields else None
    sex = fields[F.SEX].value if F.SEX in fields else None
    issues: list[v.Issue] = []
    if idv is not None and idv.value and generation != "cmnd_9":
        addresses = [str(fields[n].value) for n in (F.PLACE_OF_ORIGIN, F.PLACE_OF_RESIDENCE) if n in fields]
        repaired = v.repair_province(str(idv.value), [a for a in addresses if a and a != "None"])
        if repaired is not None and not {"qr", "mrz"} & set(idv.sources):
            idv.value = repaired[0]
            issues.append(repaired[1])
    if idv is not None and idv.value:
        if generation == "cmnd_9":
            issues += v.check_cmnd9(str(idv.value))
        else:
            issues += v.check_id12(str(idv.value), dob=dob, sex=sex if isinstance(sex, str) else None)
    issues += v.check_dates(dob)
    exp = fields.get(F.DATE_OF_EXPIRY)
    # the age rule is the CCCD's; a 12-digit CMND is valid 15 years from issue, a 9-digit one prints no expiry
    if exp is not None and dob is not None and not generation.startswith("cmnd"):
        issue_date = iso_date(fields[F.ISSUE_DATE].value) if F.ISSUE_DATE in fields else None
        read = iso_date(exp.value)
        fixed = v.repair_expiry(dob, read, issue_date) if read is not None and "qr" not in exp.sources else None
        if fixed is not None and read is not None:
            exp.value = fixed.isoformat()
            warnings.append(
                f"date_of_expiry_repaired: read {read.isoformat()}, the age rule allows {fixed.isoformat()} "
                f"for birth {dob.isoformat()}"
            )
            if F.DATE_OF_EXPIRY in features:
                features[F.DATE_OF_EXPIRY].repaired = True
        issues += v.check_expiry(
            dob,
            iso_date(exp.value),
            issue_date=iso_date(fields[F.ISSUE_DATE].value) if F.ISSUE_DATE in fields else None,
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
        for f in issue.fields or v.WARNED_FIELDS.get(issue.code, ()):
            if f in features:
                features[f].warned = True


# what a card's back repeats of its front (MRZ, QR, the 2024 back's name and residence)
_SHARED_FIELDS = (
    F.ID_NUMBER,
    F.DATE_OF_BIRTH,
    F.SEX,
    F.FULL_NAME,
    F.DATE_OF_EXPIRY,
    F.ISSUE_DATE,
    F.PLACE_OF_RESIDENCE,
)


def _card_key(d: Document) -> str | None:
    return str(d.value(F.CARD_GENERATION)) if d.value(F.CARD_GENERATION) else None


def cross_check_cards(documents: list[Document]) -> None:
    """Submission-level consistency checks between identity cards; adds warnings (naming both values) to
    the documents involved.

    Front vs back of the same card: the back's MRZ/QR repeat the number, birth date, sex and expiry, and the
    2024 back repeats the name; any disagreement is flagged on both sides and lowers both confidences.
    Across different cards of one submission only the personal number is compared (a CMND and a CCCD of the
    same person differ in number by design, so an old 9-digit number is compared with the QR's old number)."""
    cards = [d for d in documents if d.doc_type in CARD_TYPES]
    fronts = [d for d in cards if d.doc_type.endswith("front")]
    backs = [d for d in cards if d.doc_type.endswith("back")]
    for back in backs:
        gen = _card_key(back)
        partners = [f for f in fronts if _card_key(f) == gen] or ([fronts[0]] if len(fronts) == 1 else [])
        for front in partners:
            _check_front_against_back(front, back)
    _check_numbers_between_cards(cards)


def _zone_name(back: Document) -> str | None:
    """The holder's name from the back's machine-readable zone (`SURNAME<<GIVEN<NAMES`, no diacritics)."""
    lines = back.value(F.MRZ)
    if not isinstance(lines, list) or len(lines) != 3:
        return None
    surname, _, given = str(lines[2]).rstrip("<").partition("<<")
    name = " ".join(p.replace("<", " ").strip() for p in (surname, given) if p.strip("<"))
    return name or None


def spell_like(printed: str, zone: str) -> str | None:
    """The printed name with each word whose letters the zone contradicts replaced by the name lexicon's
    spelling of the zone's word nearest to what was printed (`NGUYÊN VĂN AN` + `NGUYEN VAN ANH` →
    `NGUYÊN VĂN ANH`); None when the word counts differ or a word has no spelling in the lexicon."""
    words, zone_words = printed.split(), zone.split()
    if len(words) != len(zone_words):
        return None
    out = []
    for i, (w, z) in enumerate(zip(words, zone_words, strict=True)):
        if name_key(w) == z:
            out.append(w)
            continue
        found = lexicon.candidates(z, lexicon.position_of(i, len(words)))
        if not found:
            return None
        out.append(min(found, key=lambda e: (Levenshtein.distance(e.text, w.upper()), -e.log_prior)).text)
    return " ".join(out)


def _check_zone_name(front: Document, back: Document) -> None:
    """The back's zone spells the holder's name without diacritics: it checks the printed name's letters
    and, where they differ, gives them back (the diacritics the lexicon knows for them)."""
    printed, zone = front.fields.get(F.FULL_NAME), _zone_name(back)
    if printed is None or not printed.value or zone is None or name_key(str(printed.value)) == zone:
        return
    fixed = spell_like(str(printed.value), zone)
    if fixed is not None and "qr" not in printed.sources:
        front.warnings.append(f"full_name_repaired_from_mrz: printed {printed.value!r}, the zone says {zone!r}")
        printed.value = fixed
        printed.confidence = round(min(printed.confidence, 0.75), 4)
        return
    msg = f"full_name_front_back_mismatch: front says {printed.value!r}, the back's zone says {zone!r}"
    for d in (front, back):
        if msg not in d.warnings:
            d.warnings.append(msg)
    printed.confidence = round(printed.confidence * 0.5, 4)


def _check_front_against_back(front: Document, back: Document) -> None:
    _check_zone_name(front, back)
    for name in _SHARED_FIELDS:
        a, b = front.fields.get(name), back.fields.get(name)
        if a is None or b is None or a.value is None or b.value is None:
            continue
        if name in (F.FULL_NAME, F.PLACE_OF_RESIDENCE):
            same = name_key(str(a.value)) == name_key(str(b.value))
        else:
            same = a.value == b.value
        if same:
            continue
        msg = f"{name}_front_back_mismatch: front says {a.value!r}, back says {b.value!r}"
        for d, fv in ((front, a), (back, b)):
            if msg not in d.warnings:
                d.warnings.append(msg)
            fv.confidence = round(fv.confidence * 0.5, 4)


def _check_numbers_between_cards(cards: list[Document]) -> None:
    numbers = [str(d.value(F.ID_NUMBER)) for d in cards if d.value(F.ID_NUMBER)]
    twelve = {n for n in numbers if len(n) == 12}
    nine = {n for n in numbers if len(n) == 9}
    old = {str(d.value(F.OLD_ID_NUMBER)) for d in cards if d.value(F.OLD_ID_NUMBER)}
    if len(twelve) > 1:
        for d in cards:
            if str(d.value(F.ID_NUMBER)) in twelve:
                d.warnings.append(f"id_number_mismatch_between_cards: {sorted(twelve)}")
    if nine and old and not nine & old:
        for d in cards:
            if str(d.value(F.ID_NUMBER)) in nine:
                d.warnings.append(f"old_id_number_mismatch: CMND says {sorted(nine)}, the CCCD QR says {sorted(old)}")
