"""Field confidence that means what it says: P(value is exactly right | the evidence), one model for every
reader.

Each reader turns what it knows about a value into a feature vector (sources that agree, character
confidences, validity, disagreements, cross-checks, repairs; worker/extract/idcard/evidence.py and
worker/extract/gcn/evidence.py). A logistic model per field family maps the vector to a probability. Its
weights are data: fitted on generated documents with known truth (`python -m bench idcards --fit`,
`python -m bench gcn --fit`), checked for calibration on held-out ones (ECE in the benchmarks) and stored
beside the reader as JSON, so nothing is trained at run time. Without a stored model, or with one fitted
on other features, the reader's hand-set weights apply (a usable but uncalibrated ordering).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

FALLBACK_FAMILY = "other"


class LogisticModel:
    """Per-family logistic regression over a reader's named features, weights loaded from `path`.

    `defaults` are the hand-set weights by family (at least `other`, the fallback for a family without
    weights of its own); stored weights replace them family by family when the file was fitted on the same
    features. Probabilities are kept within `bounds`: no evidence makes a reading certain."""

    def __init__(
        self,
        path: Path,
        features: Sequence[str],
        defaults: Mapping[str, Sequence[float]],
        *,
        bounds: tuple[float, float],
    ) -> None:
        self.path = path
        self.features = tuple(features)
        self.defaults = {fam: np.asarray(w, dtype=float) for fam, w in defaults.items()}
        self.bounds = bounds

    @cached_property
    def stored(self) -> dict:
        if not self.path.is_file():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        weights = dict(self.defaults)
        if tuple(self.stored.get("features", ())) != self.features:
            return weights  # a model fitted on other features would be silently wrong
        for fam, w in self.stored.get("weights", {}).items():
            if len(w) == len(self.features):
                weights[fam] = np.asarray(w, dtype=float)
        return weights

    @property
    def version(self) -> str:
        return str(self.stored.get("version", "unknown")) if self.stored else "default"

    def reload(self) -> None:
        """Forget the loaded weights (after a fit wrote new ones)."""
        self.__dict__.pop("stored", None)
        self.__dict__.pop("weights", None)

    def family_weights(self, family: str) -> np.ndarray:
        return self.weights.get(family, self.weights[FALLBACK_FAMILY])

    def probability(self, family: str, vector: Sequence[float] | np.ndarray) -> float:
        z = float(np.dot(self.family_weights(family), np.asarray(vector, dtype=float)))
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        lo, hi = self.bounds
        return round(min(hi, max(lo, p)), 4)

    def save(self, weights: Mapping[str, Sequence[float]], **extra: object) -> None:
        """Store fitted weights (with `extra` keys such as the version or what they were fitted on)."""
        body = {**extra, "features": list(self.features), "weights": {k: list(v) for k, v in weights.items()}}
        self.path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
        self.reload()


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    prior: np.ndarray | None = None,
    l2: float = 1.0,
    bias_l2: float = 1e-6,
    iters: int = 50,
) -> np.ndarray:
    """Newton's method for logistic regression with an L2 penalty pulling the weights towards `prior`
    (zeros by default); the bias (first weight) is penalised by `bias_l2` only: the base rate is what the
    data knows best."""
    _, d = x.shape
    prior = np.zeros(d) if prior is None else np.asarray(prior, dtype=float)
    w = prior.copy()
    reg = np.full(d, l2)
    reg[0] = bias_l2
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + reg * (w - prior)
        h = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.solve(h, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return w


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
    """(bin low, bin high, count, accuracy) rows for the benchmarks' reliability tables."""
    p = np.asarray(probs)
    c = np.asarray(correct, dtype=float)
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (p >= lo) & ((p < hi) if b < bins - 1 else (p <= hi))
        rows.append((lo, hi, int(m.sum()), float(c[m].mean()) if m.any() else float("nan")))
    return rows
