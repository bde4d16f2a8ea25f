"""Documents as the read stages would produce them, simulated from ground truth (truth.jsonl).

Training and benchmarking the matcher on thousands of submissions cannot wait for OCR of thousands of
scans, so the extraction is simulated: every truth field is kept, dropped or corrupted the way the read
stages get it wrong (Tesseract's lost and swapped tone marks, vowel-shape confusions, digit slips, missed
fields, unreadable pages), with confidences that are higher for right values than wrong ones. The rates are
parameters; `noise=1.0` is the default profile, `0` gives perfect extraction."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from typing import Any

from models import fields as F
from models.document import Document, FieldValue

_TONES = ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
_SHAPES = {"Ư": "U", "Ơ": "O", "Ă": "A", "Â": "A", "Ê": "E", "Ô": "O", "Đ": "D"}
_DIGIT_SLIPS = {"0": "8", "1": "7", "2": "7", "3": "8", "4": "1", "5": "6", "6": "5", "7": "1", "8": "3", "9": "0"}
_LETTER_SLIPS = {"S": "5", "B": "8", "O": "0", "I": "1", "C": "G", "H": "N", "U": "V", "D": "O"}


@dataclass(frozen=True)
class NoiseProfile:
    """Per-field error rates of the simulated read stages (probabilities per field occurrence)."""

    page_lost: float = 0.02  # a whole page unreadable or misclassified
    missing: float = 0.04  # a field not found
    name_tone: float = 0.12  # one tone mark dropped or swapped (NGUYỄN → NGUYÊN, HỒNG → HỎNG)
    name_shape: float = 0.04  # a vowel shape lost (Ư → U), Đ → D
    name_letter: float = 0.015  # a letter misread
    digits: float = 0.025  # one digit of a number misread
    serial_letters: float = 0.03  # a letter of the serial series misread
    address_tone: float = 0.15
    area: float = 0.03

    def scaled(self, factor: float) -> NoiseProfile:
        return NoiseProfile(**{k: min(0.9, v * factor) for k, v in self.__dict__.items()})


def _conf(rng: random.Random, correct: bool) -> float:
    # the read stages' calibrated confidences: right values mostly high, wrong ones spread lower
    if correct:
        return round(min(0.999, max(0.3, rng.betavariate(12, 1.2))), 3)
    return round(min(0.95, max(0.05, rng.betavariate(3, 3))), 3)


def _tone_error(rng: random.Random, text: str) -> str:
    d = unicodedata.normalize("NFD", text)
    positions = [i for i, ch in enumerate(d) if ch in _TONES]
    if not positions:
        return text
    i = rng.choice(positions)
    replacement = "" if rng.random() < 0.6 else rng.choice([t for t in _TONES if t != d[i]])
    return unicodedata.normalize("NFC", d[:i] + replacement + d[i + 1 :])


def _shape_error(rng: random.Random, text: str) -> str:
    d = unicodedata.normalize("NFD", text)
    base = unicodedata.normalize("NFD", text)
    candidates = [i for i, ch in enumerate(base) if ch in ("\u0302", "\u0306", "\u031b")]
    if ("Đ" in text or "đ" in text) and (not candidates or rng.random() < 0.3):
        return text.replace("Đ", "D", 1) if "Đ" in text else text.replace("đ", "d", 1)
    if not candidates:
        return text
    i = rng.choice(candidates)
    return unicodedata.normalize("NFC", d[:i] + d[i + 1 :])


def _letter_error(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if not letters:
        return text
    i = rng.choice(letters)
    ch = text[i]
    new = rng.choice("ANHMTIUCGL") if ch.upper() not in _LETTER_SLIPS else _LETTER_SLIPS[ch.upper()]
    return text[:i] + new + text[i + 1 :]


def _digit_error(rng: random.Random, text: str) -> str:
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        return text
    i = rng.choice(digits)
    return text[:i] + _DIGIT_SLIPS[text[i]] + text[i + 1 :]


class Simulator:
    def __init__(self, seed: int, noise: float = 1.0, profile: NoiseProfile | None = None) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.p = (profile or NoiseProfile()).scaled(noise)

    def _name(self, value: str) -> tuple[str, bool]:
        rng, p = self.rng, self.p
        out = value
        if rng.random() < p.name_tone:
            out = _tone_error(rng, out)
        if rng.random() < p.name_shape:
            out = _shape_error(rng, out)
        if rng.random() < p.name_letter:
            out = _letter_error(rng, out)
        return out, out == value

    def _number(self, value: str) -> tuple[str, bool]:
        out = _digit_error(self.rng, value) if self.rng.random() < self.p.digits else value
        return out, out == value

    def _field(self, name: str, value: Any) -> FieldValue | None:
        rng, p = self.rng, self.p
        if value is None or value == "":
            return None
        if rng.random() < p.missing:
            return None
        ok = True
        if name in (F.FULL_NAME,):
            value, ok = self._name(str(value))
        elif name in (F.ID_NUMBER, F.OLD_ID_NUMBER):
            value, ok = self._number(str(value))
        elif name == F.DATE_OF_BIRTH:
            if rng.random() < p.digits:
                y, rest = str(value)[:4], str(value)[4:]
                value, ok = _digit_error(rng, y) + rest, False
        elif name == F.OWNER_BIRTH_YEAR:
            if rng.random() < p.digits:
                value, ok = int(_digit_error(rng, str(value))), False
        elif name == F.CERTIFICATE_SERIAL:
            text = str(value)
            if rng.random() < p.serial_letters:
                text = _letter_error(rng, text)
            if rng.random() < p.digits:
                text = _digit_error(rng, text)
            ok, value = text == value, text
        elif name in (F.PARCEL_NUMBER, F.MAP_SHEET_NUMBER):
            if rng.random() < p.digits:
                text = _digit_error(rng, str(value))
                value, ok = int(text), False
        elif name == F.AREA_M2:
            if rng.random() < p.area:
                value, ok = round(float(value) + rng.choice((-10, -1, -0.1, 0.1, 1, 10, 100)), 1), False
        elif name in (F.PARCEL_ADDRESS, F.OWNER_ADDRESS, F.PLACE_OF_RESIDENCE):
            if rng.random() < p.address_tone:
                value = _tone_error(rng, str(value))
                ok = False
        elif name == F.REGISTRY_NUMBER and rng.random() < p.digits:
            value, ok = _digit_error(rng, str(value)), False
        return FieldValue(value=value, confidence=_conf(rng, ok), sources=["simulated"])

    def _mrz(self, lines: Any, page: int) -> FieldValue | None:
        """The machine-readable zone as the card reader returns it (its lines). Drawn from its own random
        stream, keyed on the zone, so adding the zone to a sample set leaves every other simulated read as it
        was. The numbers and dates are check-digit guarded (the sample's id_number/date_of_birth stand for
        them); the name line has no check digit: a letter may be misread."""
        if not isinstance(lines, list) or len(lines) != 3:
            return None
        rng = random.Random(f"{self.seed}:{page}:{lines[0]}")
        if rng.random() < self.p.missing:
            return None
        name_line, ok = str(lines[2]), True
        if rng.random() < self.p.name_letter:
            letters = [i for i, ch in enumerate(name_line) if ch.isalpha()]
            if letters:
                i = rng.choice(letters)
                name_line = name_line[:i] + _LETTER_SLIPS.get(name_line[i], "N") + name_line[i + 1 :]
                ok = False
        return FieldValue(value=[lines[0], lines[1], name_line], confidence=_conf(rng, ok), sources=["simulated"])

    def documents(self, truth: dict[str, Any]) -> list[Document]:
        """Simulated read-stage output for one truth.jsonl submission."""
        docs: list[Document] = []
        for i, t in enumerate(truth.get("documents", []), start=1):
            if self.rng.random() < self.p.page_lost:
                continue
            doc = Document(
                source=t.get("file", f"doc{i}"),
                page=t.get("page", 1) or 1,
                part=t.get("part"),
                sha256=f"{i:064x}",
                doc_type=t["doc_type"],
                doc_type_confidence=0.95,
                quality_score=None,
            )
            for name, value in (t.get("fields") or {}).items():
                # `degradation` is the generator's note on the capture, not a field
                if name in (F.CARD_GENERATION, F.CERTIFICATE_FORM, "degradation"):
                    continue
                if name == F.MRZ:
                    mrz = self._mrz(value, i)
                    if mrz is not None:
                        doc.fields[name] = mrz
                    continue
                fv = self._field(name, value)
                if fv is not None:
                    doc.fields[name] = fv
            for owner in t.get("owners") or []:
                row: dict[str, FieldValue] = {}
                for name, value in owner.items():
                    fv = self._field(name, value)
                    if fv is not None:
                        row[name] = fv
                if row:
                    doc.owners.append(row)
            docs.append(doc)
        return docs
