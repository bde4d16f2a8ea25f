"""Post-hoc calibration of a read document's field confidences, fitted on real and synthetic documents.

The readers' confidences come from evidence (confidence.py, idcard/evidence.py, gcn/evidence.py), fitted on
synthetic documents and capped by hand from what real captures showed. This last step maps a confidence to
P(right) once more, per field family, from what the output itself carries: the confidence, whether a warning
names the field, and whether a machine-readable code (MRZ, QR, barcode) backs the value. It is a logistic
map pulled towards the identity, fitted by `python -m bench calibrate` with leave-one-image-out checks and
stored as calibration.json beside this file; without that file the confidences are left as the readers gave
them.

What it may do, by construction: keep the order of confidences within a family and flag set (the slope on the
confidence is kept positive), stay within `BOUNDS`, and never lift a value given below `HIGH` to `HIGH` or more
(a value a rule or cross-check capped stays capped). It may lower any value.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.document import Document, FieldValue
from worker.extract.confidence import fit_logistic

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
FEATURES = ("bias", "logit_confidence", "warned", "code_backed")
IDENTITY = (0.0, 1.0, 0.0, 0.0)
HIGH = 0.9
BELOW_HIGH = 0.89
BOUNDS = (0.01, 0.99)
MIN_SLOPE = 0.1
CODE_SOURCES = frozenset({"mrz", "qr", "barcode"})

_CODES = frozenset({"id_number", "old_id_number", "birth_year"})
_DATES = frozenset({"date_of_birth", "date_of_expiry", "issue_date"})
_NAMES = frozenset({"full_name"})
_PLACES = frozenset({"place_of_origin", "place_of_residence", "address"})
FAMILIES = ("card_codes_dates", "card_names", "card_places", "card_other", "certificate")


def family_of(doc_type: str, field_name: str) -> str:
    """The calibration family of a field: certificate fields together, card fields by kind."""
    if doc_type.startswith("gcn"):
        return "certificate"
    if field_name in _CODES or field_name in _DATES:
        return "card_codes_dates"
    if field_name in _NAMES:
        return "card_names"
    if field_name in _PLACES:
        return "card_places"
    return "card_other"


def warned(field_name: str, warnings: Sequence[str]) -> bool:
    """Whether a warning names the field (the warning codes start with, or list, the field's name)."""
    return any(field_name in w for w in warnings)


def code_backed(sources: Sequence[str]) -> bool:
    return any(s in CODE_SOURCES for s in sources)


def feature_vector(confidence: float, is_warned: bool, is_code_backed: bool) -> np.ndarray:
    c = min(1 - 1e-3, max(1e-3, float(confidence)))
    return np.array([1.0, math.log(c / (1 - c)), float(is_warned), float(is_code_backed)])


@dataclass(frozen=True)
class Calibrator:
    """Per-family weights over FEATURES; a family without weights keeps its confidences."""

    weights: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    provenance: Mapping[str, object] = field(default_factory=dict)

    def apply(self, family: str, confidence: float, is_warned: bool = False, is_code_backed: bool = False) -> float:
        w = self.weights.get(family)
        if w is None:
            return confidence
        z = float(np.dot(np.asarray(w), feature_vector(confidence, is_warned, is_code_backed)))
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        p = min(BOUNDS[1], max(BOUNDS[0], p))
        if confidence < HIGH:
            p = min(p, BELOW_HIGH)
        return round(p, 4)

    def to_json(self) -> str:
        body = {"features": list(FEATURES), "weights": {k: list(v) for k, v in self.weights.items()}}
        return json.dumps({**self.provenance, **body}, indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        data = json.loads(text)
        if tuple(data.get("features", ())) != FEATURES:
            return cls()  # fitted on other features: would be silently wrong
        weights = {k: tuple(float(x) for x in v) for k, v in data.get("weights", {}).items() if len(v) == len(FEATURES)}
        provenance = {k: v for k, v in data.items() if k not in ("features", "weights")}
        return cls(weights, provenance)


def fit(
    families: Sequence[str],
    confidences: Sequence[float],
    warned_flags: Sequence[bool],
    code_flags: Sequence[bool],
    right: Sequence[bool],
    *,
    l2: float = 4.0,
    min_values: int = 20,
) -> Calibrator:
    """Per family, a logistic map from FEATURES to right/wrong pulled towards the identity (so a family with
    few values stays near the confidences given); families with fewer than `min_values` values are left
    out (their confidences are kept)."""
    if not families:
        return Calibrator()
    fams = np.asarray(families)
    x = np.stack([feature_vector(c, w, b) for c, w, b in zip(confidences, warned_flags, code_flags, strict=True)])
    y = np.asarray(right, dtype=float)
    weights: dict[str, tuple[float, ...]] = {}
    for fam in sorted(set(families)):
        m = fams == fam
        if m.sum() < min_values:
            continue
        w = fit_logistic(x[m], y[m], prior=np.asarray(IDENTITY), l2=l2, bias_l2=l2)
        w[1] = max(w[1], MIN_SLOPE)  # monotone in the confidence
        weights[fam] = tuple(round(float(v), 5) for v in w)
    return Calibrator(weights)


# set to 1, the readers' own confidences are given (the benchmark that fits the calibrator reads them so;
# fitting on calibrated output would stack a second map on the first)
RAW_CONFIDENCE_ENV = "INTAKE_RAW_CONFIDENCE"


def stored_calibrator() -> Calibrator:
    """The calibrator stored beside this module, or the identity when there is none (or raw confidences are
    asked for)."""
    return Calibrator() if os.environ.get(RAW_CONFIDENCE_ENV) == "1" else _stored()


@lru_cache(maxsize=1)
def _stored() -> Calibrator:
    if not CALIBRATION_PATH.is_file():
        return Calibrator()
    return Calibrator.from_json(CALIBRATION_PATH.read_text(encoding="utf-8"))


def _calibrated_fields(
    fields: Mapping[str, FieldValue], doc_type: str, warnings: Sequence[str], calibrator: Calibrator, prefix: str = ""
) -> dict[str, FieldValue]:
    out = {}
    for name, fv in fields.items():
        if fv.value in (None, "", []):
            out[name] = fv
            continue
        conf = calibrator.apply(
            family_of(doc_type, name), fv.confidence, warned(prefix + name, warnings), code_backed(fv.sources)
        )
        out[name] = fv.model_copy(update={"confidence": conf})
    return out


def calibrated(doc: Document, calibrator: Calibrator | None = None) -> Document:
    """The document with every field's (and owner's field's) confidence calibrated; `doc` is left unchanged."""
    cal = stored_calibrator() if calibrator is None else calibrator
    if not cal.weights:
        return doc.model_copy(deep=True)
    out = doc.model_copy(deep=True)
    out.fields = _calibrated_fields(out.fields, out.doc_type, out.warnings, cal)
    out.owners = [
        _calibrated_fields(o, out.doc_type, out.warnings, cal, prefix=f"owner_{i + 1}_")
        for i, o in enumerate(out.owners)
    ]
    return out
