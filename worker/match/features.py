"""What a submission says, gathered from its documents into one record for matching.

A submission may hold an ID card (front/back, several generations), certificate pages, or both. Parcel
fields come from whichever page printed them (best confidence wins); people come from the ID card and from
the certificate's owner lines, and the card holder is merged with the owner line that is the same person."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from models import fields as F
from models.document import Document, FieldValue
from worker.keys import id_digits, registry_key, serial_key
from worker.vntext import clean, commune_name_key, name_key, street_part

_CARD_TYPES = frozenset({"cccd_front", "cccd_back", "cmnd_front", "cmnd_back"})
_GCN_TYPES = frozenset({"gcn_page1", "gcn_page2", "gcn_other"})
_CODE_IN_TEXT = re.compile(r"\(([A-Z]{3})\)")


@dataclass
class Value:
    value: Any
    confidence: float


@dataclass
class ScannedPerson:
    name: str | None = None  # clean, upper case, as printed (diacritics kept)
    name_key: str = ""
    name_confidence: float = 0.0
    birth_year: int | None = None
    birth_year_confidence: float = 0.0
    id_number: str | None = None  # the primary number on the paper (12 digits, or 9 on a CMND)
    old_id_number: str | None = None  # the 9-digit CMND when the card's QR (or another paper) gives it
    id_confidence: float = 0.0
    address: str | None = None
    street: str = ""  # street part of the address, folded
    ward_key: str | None = None
    from_card: bool = False
    from_certificate: bool = False

    @property
    def id_numbers(self) -> tuple[str, ...]:
        return tuple(n for n in (self.id_number, self.old_id_number) if n)


@dataclass
class ScannedSubmission:
    certificate_serial: str | None = None
    serial_key: str | None = None
    serial_confidence: float = 0.0
    registry_number: str | None = None
    registry_key: str | None = None
    map_sheet_number: int | None = None
    parcel_number: int | None = None
    ref_confidence: float = 0.0
    parcel_address: str | None = None
    ward_key: str | None = None
    street: str = ""
    area_m2: float | None = None
    land_use_code: str | None = None
    persons: list[ScannedPerson] = field(default_factory=list)
    has_card: bool = False
    has_certificate: bool = False

    @property
    def primary(self) -> ScannedPerson | None:
        return self.persons[0] if self.persons else None


def _best(documents: list[Document], name: str, types: frozenset[str] | None = None) -> Value | None:
    best: FieldValue | None = None
    for doc in documents:
        if types is not None and doc.doc_type not in types:
            continue
        fv = doc.fields.get(name)
        if fv is None or fv.value in (None, ""):
            continue
        if best is None or fv.confidence > best.confidence:
            best = fv
    return Value(best.value, best.confidence) if best is not None else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None


def _year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    m = re.search(r"(1[89]\d\d|20\d\d)", str(value))
    return int(m.group(1)) if m else None


def _person_from(fields: dict[str, FieldValue], *, card: bool) -> ScannedPerson:
    def get(*names: str) -> FieldValue | None:
        for n in names:
            fv = fields.get(n)
            if fv is not None and fv.value not in (None, ""):
                return fv
        return None

    person = ScannedPerson(from_card=card, from_certificate=not card)
    if fv := get(F.FULL_NAME, "name"):
        person.name = clean(str(fv.value)).upper()
        person.name_key = name_key(person.name)
        person.name_confidence = fv.confidence
    if fv := get(F.DATE_OF_BIRTH, F.OWNER_BIRTH_YEAR):
        person.birth_year = _year(fv.value)
        person.birth_year_confidence = fv.confidence
    if fv := get(F.ID_NUMBER):
        digits = id_digits(str(fv.value))
        if digits and len(digits) in (9, 12):
            person.id_number = digits
            person.id_confidence = fv.confidence
    if fv := get(F.OLD_ID_NUMBER):
        digits = id_digits(str(fv.value))
        if digits and len(digits) == 9:
            person.old_id_number = digits
    if fv := get(F.PLACE_OF_RESIDENCE, F.OWNER_ADDRESS):
        person.address = clean(str(fv.value))
        person.street = street_part(person.address)
        person.ward_key = commune_name_key(person.address)
    return person


_MRZ_LETTERS = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"})


def mrz_holder_name(value: Any) -> str | None:
    """The holder's name from a card's machine-readable zone (its lines, or the lines joined by newlines):
    line 3 `NGUYEN<<VAN<AN<<<` → `NGUYEN VAN AN` (no diacritics; may be cut at 30 characters)."""
    lines = value.splitlines() if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    if len(lines) < 3:
        return None
    line = str(lines[2]).strip().upper().translate(_MRZ_LETTERS)
    surname, _, rest = line.partition("<<")
    words = (surname.replace("<", " ") + " " + rest.replace("<", " ")).split()
    # a character no letter is misread as: the line is not a name (dropping the word would make another one)
    if len(words) < 2 or not all(w.isascii() and w.isalpha() for w in words):
        return None
    return " ".join(words)


def _same_person(a: ScannedPerson, b: ScannedPerson) -> bool:
    if set(a.id_numbers) & set(b.id_numbers):
        return True
    if a.name_key and a.name_key == b.name_key:
        return a.birth_year is None or b.birth_year is None or abs(a.birth_year - b.birth_year) <= 1
    return False


def _merge(card: ScannedPerson, owner: ScannedPerson) -> ScannedPerson:
    """The card is the better source for the person (QR/MRZ-checked); the certificate may add the number it
    printed (often the old CMND) and a birth year when the card's was unreadable."""
    merged = ScannedPerson(**card.__dict__)
    merged.from_certificate = True
    if not merged.name and owner.name:
        merged.name, merged.name_key, merged.name_confidence = owner.name, owner.name_key, owner.name_confidence
    if merged.birth_year is None and owner.birth_year is not None:
        merged.birth_year, merged.birth_year_confidence = owner.birth_year, owner.birth_year_confidence
    for number in owner.id_numbers:
        if number in merged.id_numbers:
            continue
        if merged.id_number is None:
            merged.id_number, merged.id_confidence = number, owner.id_confidence
        elif len(number) == 9 and merged.old_id_number is None and len(merged.id_number) == 12:
            merged.old_id_number = number
    if not merged.address and owner.address:
        merged.address, merged.street, merged.ward_key = owner.address, owner.street, owner.ward_key
    return merged


def scan_submission(documents: list[Document]) -> ScannedSubmission:
    """Everything the matcher compares, from one submission's documents."""
    sub = ScannedSubmission()
    cards = [d for d in documents if d.doc_type in _CARD_TYPES]
    certs = [d for d in documents if d.doc_type in _GCN_TYPES]
    sub.has_card, sub.has_certificate = bool(cards), bool(certs)
    if v := _best(documents, F.CERTIFICATE_SERIAL):
        sub.certificate_serial = clean(str(v.value))
        sub.serial_key = serial_key(sub.certificate_serial)
        sub.serial_confidence = v.confidence
    if v := _best(documents, F.REGISTRY_NUMBER):
        sub.registry_number = clean(str(v.value))
        sub.registry_key = registry_key(sub.registry_number)
    sheet, number = _best(documents, F.MAP_SHEET_NUMBER), _best(documents, F.PARCEL_NUMBER)
    if sheet and number:
        sub.map_sheet_number, sub.parcel_number = _int(sheet.value), _int(number.value)
        sub.ref_confidence = min(sheet.confidence, number.confidence)
    elif sheet or number:
        sub.map_sheet_number = _int(sheet.value) if sheet else None
        sub.parcel_number = _int(number.value) if number else None
    if v := _best(documents, F.PARCEL_ADDRESS):
        sub.parcel_address = clean(str(v.value))
        sub.ward_key = commune_name_key(sub.parcel_address)
        sub.street = street_part(sub.parcel_address)
    if v := _best(documents, F.AREA_M2):
        sub.area_m2 = _float(v.value)
    if v := _best(documents, F.LAND_USE_CODE):
        sub.land_use_code = clean(str(v.value)).upper() or None
    elif (v := _best(documents, F.LAND_USE_PURPOSE)) and (codes := _CODE_IN_TEXT.findall(str(v.value))):
        sub.land_use_code = "+".join(codes)

    card_person: ScannedPerson | None = None
    if cards:
        fronts = [d for d in cards if d.doc_type.endswith("front")] or cards
        merged_fields: dict[str, FieldValue] = {}
        # front first, then back: a value from the back (MRZ) only fills what the front did not give
        for doc in sorted(cards, key=lambda d: d not in fronts):
            for name, fv in doc.fields.items():
                if fv.value in (None, ""):
                    continue
                if name not in merged_fields or fv.confidence > merged_fields[name].confidence + 0.2:
                    merged_fields[name] = fv
        candidate = _person_from(merged_fields, card=True)
        mrz = merged_fields.get(F.MRZ)
        if not candidate.name_key and mrz is not None and (holder := mrz_holder_name(mrz.value)):
            # the front unread (or lost) but the back's zone names the holder: without diacritics, and the name
            # line has no check digit, so a little less sure than the zone's confidence
            candidate.name, candidate.name_key = holder, name_key(holder)
            candidate.name_confidence = 0.9 * mrz.confidence
        if candidate.name_key or candidate.id_numbers:
            card_person = candidate
    owners: list[ScannedPerson] = []
    for doc in certs:
        for owner in doc.owners:
            person = _person_from(owner, card=False)
            if (person.name_key or person.id_numbers) and not any(_same_person(person, o) for o in owners):
                owners.append(person)
    if card_person is not None:
        match = next((o for o in owners if _same_person(card_person, o)), None)
        if match is not None:
            owners.remove(match)
            card_person = _merge(card_person, match)
        sub.persons = [card_person, *owners]
    else:
        sub.persons = owners
    return sub
