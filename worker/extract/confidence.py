"""Field confidence that means what it says: P(value is exactly right | the evidence).

Evidence per field (`Features`): which independent sources agree on the chosen value (QR, MRZ, the region
re-read, the layout pass, the lexicon), the recogniser's character confidences, whether the value is valid
for its format, how many sources disagree, validation issues, and for names the lexicon posterior and the
MRZ letters. A logistic model per field family maps them to a probability. Its weights are fitted on
generated cards with known truth (`python -m bench idcards --fit`), held-out checked for calibration (ECE in
the benchmark), and stored beside this module (confidence_model.json) so nothing is trained at run time.
Without the file, hand-set weights give a usable but uncalibrated ordering.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("confidence_model.json")

FAMILIES = {
    "id_number": "id_number",
    "old_id_number": "id_number",
    "date_of_birth": "date",
    "date_of_expiry": "date",
    "issue_date": "date",
    "sex": "sex",
    "full_name": "name",
    "place_of_residence": "address",
    "place_of_residence_normalised": "address",
    "place_of_origin": "address",
    "place_of_birth": "address",
    "personal_identification": "address",
}

FEATURE_NAMES = (
    "bias",
    "qr",
    "mrz",
    "ocr_sources",
    "char_conf",
    "min_char_conf",
    "valid",
    "disagreements",
    "lexicon_posterior",
    "lexicon_unknown",
    "mrz_name",
    "issue_errors",
    "issue_warnings",
    "typewriter",
)


@dataclass
class Features:
    field: str
    sources: list[str] = dc_field(default_factory=list)
    char_conf: float = 0.0
    min_char_conf: float = 0.0
    valid: bool = True
    disagreements: int = 0
    lexicon_posterior: float | None = None
    mrz_name_agrees: bool | None = None
    issue_errors: int = 0
    issue_warnings: int = 0
    # the 9-digit CMND is typed on a dotted form: its digits are misread with high recogniser confidence
    typewriter: bool = False

    @property
    def family(self) -> str:
        return FAMILIES.get(self.field, "other")

    def vector(self) -> np.ndarray:
        ocr_sources = sum(s in ("ocr", "ocr_alt", "layout", "lexicon") for s in self.sources)
        lex = self.lexicon_posterior
        return np.array(
            [
                1.0,
                float("qr" in self.sources),
                float("mrz" in self.sources),
                float(ocr_sources),
                self.char_conf,
                self.min_char_conf,
                float(self.valid),
                float(self.disagreements),
                lex if lex is not None else 0.0,
                float(lex is not None and lex <= 0.0),
                0.0 if self.mrz_name_agrees is None else (1.0 if self.mrz_name_agrees else -1.0),
                float(self.issue_errors),
                float(self.issue_warnings),
                float(self.typewriter),
            ]
        )


# hand-set fallback: agreement and machine-readable sources dominate, format validity gates
_DEFAULT = np.array([-3.0, 5.0, 4.0, 1.2, 2.0, 1.5, 1.5, -1.5, 1.0, -0.5, 1.5, -2.5, -0.8, -0.5])


@cache
def _model() -> dict[str, np.ndarray]:
    if not MODEL_PATH.is_file():
        return {}
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    if tuple(data.get("features", ())) != FEATURE_NAMES:
        return {}  # a model fitted on other features would be silently wrong
    return {fam: np.array(w, dtype=float) for fam, w in data["weights"].items()}


def model_version() -> str:
    if not MODEL_PATH.is_file():
        return "default"
    return str(json.loads(MODEL_PATH.read_text(encoding="utf-8")).get("version", "unknown"))


def score(f: Features) -> float:
    w = _model().get(f.family, _model().get("other", _DEFAULT))
    z = float(np.dot(w, f.vector()))
    p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
    return round(min(0.999, max(0.001, p)), 4)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Newton's method for L2-regularised logistic regression (the bias is not regularised)."""
    _, d = x.shape
    w = np.zeros(d)
    reg = np.full(d, l2)
    reg[0] = 1e-6
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + reg * w
        h = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.solve(h, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return w


def fit(samples: list[tuple[Features, bool]], *, version: str, path: Path = MODEL_PATH) -> dict[str, list[float]]:
    """Fit one logistic model per field family on (features, was the value exactly right) and store it."""
    by_family: dict[str, list[tuple[np.ndarray, float]]] = {}
    for f, ok in samples:
        by_family.setdefault(f.family, []).append((f.vector(), float(ok)))
    weights: dict[str, list[float]] = {}
    for fam, rows in by_family.items():
        x = np.stack([r[0] for r in rows])
        y = np.array([r[1] for r in rows])
        if len(set(y)) < 2:
            # all right (or all wrong): a model cannot be fitted; a strong bias says the same honestly
            rate = (y.sum() + 0.5) / (len(y) + 1.0)
            w = np.zeros(len(FEATURE_NAMES))
            w[0] = math.log(rate / (1 - rate))
        else:
            w = fit_logistic(x, y)
        weights[fam] = [round(float(c), 5) for c in w]
    path.write_text(
        json.dumps({"version": version, "features": list(FEATURE_NAMES), "weights": weights}, indent=1) + "\n",
        encoding="utf-8",
    )
    _model.cache_clear()
    return weights


def expected_calibration_error(probs: list[float], correct: list[bool], bins: int = 10) -> float:
    """ECE: the bin-weighted gap between mean confidence and accuracy (equal-width bins)."""
    if not probs:
        return 0.0
    p = np.asarray(probs)
    c = np.asarray(correct, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - c[m].mean())
    return float(ece)


def reliability_table(probs: list[float], correct: list[bool], bins: int = 5) -> list[tuple[float, float, int, float]]:
    """(bin low, bin high, count, accuracy) rows for the benchmark's reliability table."""
    p = np.asarray(probs)
    c = np.asarray(correct, dtype=float)
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (p >= lo) & ((p < hi) if b < bins - 1 else (p <= hi))
        rows.append((lo, hi, int(m.sum()), float(c[m].mean()) if m.any() else float("nan")))
    return rows
