"""What supports one certificate field value, and the confidence the model gives it
(worker/extract/confidence.py; the fitted weights are gcn_confidence.json beside this module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import fields as F
from models.document import FieldValue
from worker.extract.confidence import FALLBACK_FAMILY, LogisticModel


@dataclass
class Evidence:
    """What supports one field value; the confidence model's input."""

    name: str
    value: Any
    box: tuple[int, int, int, int] | None = None
    sources: list[str] = field(default_factory=list)
    ocr_conf: float = 0.0
    min_conf: float = 0.0
    valid: bool = True
    agree: int = 0  # further independent readings that gave the same value
    disagree: int = 0  # readings that gave another value
    check: int = 0  # +1 a cross-check confirmed the value, -1 one contradicted it
    repaired: bool = False  # characters were mapped (O→0, ...) or a lexicon changed the reading
    handwritten: bool = False  # written in by hand (pen ink): flagged for review, never trusted
    # held for review: read off a page whose text lost its headings or that the image stage found blurred,
    # off a parcel line that lost its other number, or its only re-read contradicts it
    doubtful: bool = False

    def vector(self) -> list[float]:
        return [
            1.0,
            self.ocr_conf,
            self.min_conf,
            float(self.valid),
            float(min(self.agree, 3)),
            float(min(self.disagree, 3)),
            float(self.check > 0),
            float(self.check < 0),
            float(self.repaired),
        ]


FEATURE_NAMES = ("bias", "ocr_conf", "min_conf", "valid", "agree", "disagree", "check_ok", "check_bad", "repaired")


# what an owner's evidence is named by (`owner.full_name`): the owner fields share the families of their own
OWNER = "owner."

FAMILIES: dict[str, str] = {
    F.CERTIFICATE_SERIAL: "number",
    F.PARCEL_NUMBER: "number",
    F.MAP_SHEET_NUMBER: "number",
    F.REGISTRY_NUMBER: "number",
    F.CERTIFICATE_CODE: "number",
    OWNER + F.OWNER_ID_NUMBER: "number",
    OWNER + F.OWNER_BIRTH_YEAR: "number",
    F.AREA_M2: "area",
    F.AREA_IN_WORDS: "text",
    OWNER + F.OWNER_FULL_NAME: "name",
    F.ISSUE_DATE: "date",
    F.CERTIFICATE_FORM: "form",
    F.LAND_USE_CODE: "form",
    OWNER + F.OWNER_ID_TYPE: "form",
    OWNER + F.OWNER_RELATIONSHIP: "form",
    F.QR_PAYLOAD: "code",
    F.BARCODE: "code",
    F.BARCODE_COMMUNE_CODE: "code",
    F.BARCODE_ISSUE_YEAR: "code",
}


DEFAULT_WEIGHTS: dict[str, list[float]] = {
    "number": [-3.0, 3.5, 1.5, 1.5, 1.8, -1.8, 1.5, -2.5, -0.7],
    "area": [-3.0, 3.5, 1.0, 1.0, 1.5, -2.0, 2.0, -2.5, -0.7],
    "name": [-2.5, 3.0, 1.5, 1.0, 1.2, -1.5, 1.0, -1.5, -0.3],
    "text": [-2.5, 4.0, 1.0, 1.0, 1.0, -1.5, 1.0, -1.5, -0.3],
    "date": [-2.5, 3.5, 1.0, 1.5, 1.5, -1.5, 1.0, -2.0, -0.5],
    "form": [-1.0, 2.0, 1.0, 1.5, 1.5, -1.5, 1.0, -1.5, -0.5],
    "code": [4.0, 0.0, 0.0, 0.0, 0.0, -2.0, 1.0, -2.0, 0.0],
    "other": [-2.5, 3.5, 1.0, 1.0, 1.0, -1.5, 1.0, -1.5, -0.3],
}


MODEL = LogisticModel(
    Path(__file__).with_name("gcn_confidence.json"), FEATURE_NAMES, DEFAULT_WEIGHTS, bounds=(0.005, 0.995)
)


def family_of(name: str) -> str:
    return FAMILIES.get(name, FALLBACK_FAMILY)


# a handwritten entry is read by a model trained on print: whatever the evidence says, it goes to a person
HANDWRITTEN_CAP = 0.3


# a value that fails its own rule (a serial out of format, an origin with a word no legal entry has) or a
# cross-check (area digits against the words, the issue date against the form), or one held as doubtful,
# goes to a person at no more than the share of such values that were right where it was measured: stored as
# `held_ceiling` with the fitted weights (`python -m bench gcn --world --fit-ceiling`); this is the prior
HELD_CEILING_PRIOR = 0.85


def is_held(ev: Evidence) -> bool:
    """Whether the value failed a rule or a cross-check or was read where the reader doubts it."""
    return ev.check < 0 or not ev.valid or ev.doubtful


def held_ceiling() -> float:
    stored = MODEL.stored.get("held_ceiling", {})
    return float(stored.get("share_right", HELD_CEILING_PRIOR)) if isinstance(stored, dict) else HELD_CEILING_PRIOR


def confidence_of(ev: Evidence, name: str | None = None) -> float:
    p = MODEL.probability(family_of(name or ev.name), ev.vector())
    if ev.handwritten:
        return min(p, HANDWRITTEN_CAP)
    return min(p, held_ceiling()) if is_held(ev) else p


def field_value(ev: Evidence, name: str | None = None) -> FieldValue:
    return FieldValue(
        value=ev.value,
        confidence=confidence_of(ev, name),
        box=list(ev.box) if ev.box else None,
        sources=sorted(set(ev.sources)),
    )
