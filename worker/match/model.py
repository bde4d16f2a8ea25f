"""The Fellegi-Sunter model: per-field comparison levels with m (P(level | same parcel/person)) and u
(P(level | different)) probabilities, term-frequency adjusted names, EM estimation without labels, refinement
from labelled pairs (review decisions), and calibration of the resulting score to a probability.

Scores are log2 Bayes factors, as in Splink. A candidate's probability of being *the* parcel is computed
against every other candidate of the submission and against "the parcel is not among them" (absent from the
registry, or not retrieved), then mapped through a calibration fitted on held-out labelled submissions."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from worker.match.comparators import LEVELS, TF_NAME_LEVELS

if TYPE_CHECKING:
    from models.settings import Settings

TF_LEVELS: dict[str, frozenset[str]] = {
    "name": TF_NAME_LEVELS,
    "registry_number": frozenset({"exact"}),
    "certificate_serial": frozenset({"exact"}),
}

MODEL_PATH = Path(__file__).with_name("model.json")


def active_model_path(settings: Settings) -> Path:
    """The model the matcher loads: the one `intake model refine` wrote, else the one shipped here."""
    refined = settings.refined_match_model
    return refined if refined.is_file() else MODEL_PATH

# floor for any probability: a level never seen in training must not give an infinite weight
_EPS = 1e-6
M_FLOOR = 0.004

# Starting values for EM (and the model used before any training): m high on agreement levels, u from
# rough chance agreement among random Huế parcels/people.
_DEFAULT_M: dict[str, dict[str, float]] = {
    "certificate_serial": {"exact": 0.9, "ocr_close": 0.06, "differs": 0.04},
    "registry_number": {"exact": 0.85, "close": 0.08, "differs": 0.07},
    "parcel_ref": {"exact": 0.9, "one_differs": 0.08, "differs": 0.02},
    "commune": {"exact": 0.85, "merged_unit": 0.1, "differs": 0.05},
    "street": {"exact": 0.6, "similar": 0.3, "differs": 0.1},
    "area": {"exact": 0.9, "close": 0.05, "differs": 0.05},
    "land_use": {"exact": 0.9, "overlap": 0.07, "differs": 0.03},
    "residence": {"same_place": 0.6, "same_ward": 0.1, "differs": 0.3},
    "name": {
        "exact": 0.6,
        "tones_differ": 0.12,
        "no_diacritics": 0.12,
        "ocr_close": 0.1,
        "middle_differs": 0.03,
        "given_only": 0.015,
        "differs": 0.015,
    },
    "birth_year": {"exact": 0.9, "off_by_one": 0.07, "differs": 0.03},
    "id_number": {"exact": 0.7, "ocr_close": 0.05, "not_comparable": 0.2, "differs": 0.05},
}
_DEFAULT_U: dict[str, dict[str, float]] = {
    "certificate_serial": {"exact": 1e-6, "ocr_close": 1e-5, "differs": 0.99999},
    "registry_number": {"exact": 1e-4, "close": 1e-3, "differs": 0.9989},
    "parcel_ref": {"exact": 5e-5, "one_differs": 0.02, "differs": 0.98},
    "commune": {"exact": 0.05, "merged_unit": 0.05, "differs": 0.9},
    "street": {"exact": 1e-4, "similar": 0.01, "differs": 0.99},
    "area": {"exact": 0.002, "close": 0.02, "differs": 0.978},
    "land_use": {"exact": 0.4, "overlap": 0.1, "differs": 0.5},
    "residence": {"same_place": 1e-4, "same_ward": 0.05, "differs": 0.95},
    "name": {
        "exact": 1e-4,
        "tones_differ": 1e-5,
        "no_diacritics": 1e-5,
        "ocr_close": 1e-4,
        "middle_differs": 0.002,
        "given_only": 0.02,
        "differs": 0.978,
    },
    "birth_year": {"exact": 0.015, "off_by_one": 0.03, "differs": 0.955},
    "id_number": {"exact": 1e-7, "ocr_close": 1e-6, "not_comparable": 0.3, "differs": 0.7},
}

# fields whose levels are observed for the person the submission is about (card holder / first owner)
PERSON_FIELDS = ("name", "birth_year", "id_number")


def _normalise(probs: dict[str, float], levels: Sequence[str], floor: float = _EPS) -> dict[str, float]:
    clipped = {lv: max(float(probs.get(lv, 0.0)), floor) for lv in levels}
    total = sum(clipped.values())
    return {lv: p / total for lv, p in clipped.items()}


@dataclass
class Calibration:
    """Maps a raw posterior to a calibrated probability: isotonic (piecewise linear through the PAV steps,
    on the logit of the raw score) or Platt (logistic on the logit)."""

    method: str = "identity"
    x: list[float] = field(default_factory=list)  # logit(raw) knots, increasing
    y: list[float] = field(default_factory=list)  # calibrated probability at the knots
    a: float = 1.0  # Platt: p = sigmoid(a * logit(raw) + b)
    b: float = 0.0

    def __call__(self, raw: float) -> float:
        raw = min(max(raw, 1e-12), 1 - 1e-12)
        z = math.log(raw / (1 - raw))
        if self.method == "isotonic" and self.x:
            return float(np.interp(z, self.x, self.y))
        if self.method == "platt":
            t = self.a * z + self.b
            return 1.0 / (1.0 + math.exp(-t)) if t >= 0 else math.exp(t) / (1.0 + math.exp(t))
        return raw

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": self.x, "y": self.y, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration:
        if not data:
            return cls()
        return cls(
            data.get("method", "identity"), data.get("x", []), data.get("y", []), data.get("a", 1.0), data.get("b", 0.0)
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def fit_isotonic(raw: Sequence[float], correct: Sequence[bool], *, prior_strength: float = 1.0) -> Calibration:
    """Pool-adjacent-violators on (raw score, outcome), increasing; each block's rate is smoothed with a
    Beta(0.5, 0.5)-like prior so a block of 3000 correct answers says 0.9998, not a reckless 1.0."""
    order = np.argsort(np.asarray(raw, dtype=float), kind="mergesort")
    z = _logit(np.asarray(raw, dtype=float)[order])
    y = np.asarray(correct, dtype=float)[order]
    # blocks: [sum_y, count, z_min, z_max]
    blocks: list[list[float]] = []
    for zi, yi in zip(z.tolist(), y.tolist(), strict=True):
        blocks.append([yi, 1.0, zi, zi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, n, lo, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][3] = hi
            del lo
    # knots at both ends of every block: constant within a block (PAV's step), linear only across the gaps
    # between blocks, so a score keeps its block's rate
    xs: list[float] = []
    ys: list[float] = []
    for s, n, lo, hi in blocks:
        rate = (s + 0.5 * prior_strength) / (n + prior_strength)
        for x in (lo, hi) if hi > lo else (lo,):
            if xs and x <= xs[-1]:
                x = xs[-1] + 1e-9
            xs.append(x)
            ys.append(rate)
    ys = np.maximum.accumulate(np.asarray(ys)).tolist()
    return Calibration("isotonic", xs, ys)


def fit_platt(raw: Sequence[float], correct: Sequence[bool], iterations: int = 100) -> Calibration:
    """Logistic regression of the outcome on logit(raw): Newton's method with a backtracking line search
    (on saturated scores a full Newton step overshoots)."""
    z = _logit(np.asarray(raw, dtype=float))
    y = np.asarray(correct, dtype=float)

    def nll(a: float, b: float) -> float:
        t = a * z + b
        # log(1 + e^t) - y t, stably
        return float(np.sum(np.logaddexp(0.0, t) - y * t))

    a, b = 1.0, 0.0
    current = nll(a, b)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(a * z + b, -500, 500)))
        w = np.clip(p * (1 - p), 1e-9, None)
        grad = np.array([np.sum((p - y) * z), np.sum(p - y)])
        hess = np.array([[np.sum(w * z * z), np.sum(w * z)], [np.sum(w * z), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:
            candidate = nll(a - scale * step[0], b - scale * step[1])
            if candidate <= current:
                break
            scale /= 2
        else:
            break
        a, b = a - scale * step[0], b - scale * step[1]
        improvement = current - candidate
        current = candidate
        if improvement < 1e-9:
            break
    return Calibration("platt", a=float(a), b=float(b))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Weighted mean |confidence - accuracy| over equal-width confidence bins."""
    conf = np.asarray(confidences, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return float("nan")
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.sum() / conf.size * abs(conf[mask].mean() - ok[mask].mean())
    return float(ece)


@dataclass
class Model:
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    # P(the submission's parcel is in the registry): the prior mass shared by all registry parcels
    prior_in_registry: float = 0.9
    calibration: Calibration = field(default_factory=Calibration)
    # a name seen less often than this share of owners is treated as this rare (an unseen name is not a 0)
    tf_floor: float = 2e-6
    # a co-owner on the certificate who is not on the record is weak evidence against: cap its penalty
    secondary_person_floor: float = -4.0
    # how many other registry parcels an owner holds on average (people with several parcels make person
    # evidence alone unable to single out one parcel; estimated from the registry's personal numbers)
    other_parcels_per_owner: float = 0.15
    version: str = "untrained"
    trained_at: str | None = None
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._weights: dict[str, dict[str, float]] = {}
        self._refresh()

    def _refresh(self) -> None:
        for fld, levels in LEVELS.items():
            # no level is impossible among matches: training data never show every way a registry or a scan
            # goes wrong, and one field must not be able to veto a match on its own
            self.m[fld] = _normalise(self.m.get(fld, _DEFAULT_M[fld]), levels, M_FLOOR)
            self.u[fld] = _normalise(self.u.get(fld, _DEFAULT_U[fld]), levels)
        self._weights = {
            fld: {lv: math.log2(self.m[fld][lv] / self.u[fld][lv]) for lv in levels} for fld, levels in LEVELS.items()
        }

    @classmethod
    def default(cls) -> Model:
        return cls({k: dict(v) for k, v in _DEFAULT_M.items()}, {k: dict(v) for k, v in _DEFAULT_U.items()})

    def weight(self, fld: str, level: str | None, tf: float | None = None) -> float:
        """log2 Bayes factor of one comparison; with a term frequency for agreeing levels (Splink's TF
        adjustment: u becomes how often *this* value occurs: a rare name, or a registry number many
        communes' books reuse, weigh what they are worth)."""
        if level is None:
            return 0.0
        if tf is not None and level in TF_LEVELS.get(fld, ()):
            return math.log2(self.m[fld][level] / max(tf, self.tf_floor))
        return self._weights[fld][level]

    # --- estimation -----------------------------------------------------------------------------------

    def estimate_u(self, level_rows: Iterable[dict[str, str | None]]) -> None:
        """u from comparisons of random (non-matching) pairs: how often each level happens by chance."""
        counts = {fld: dict.fromkeys(levels, 0.0) for fld, levels in LEVELS.items()}
        for row in level_rows:
            for fld, level in row.items():
                if level is not None and fld in counts:
                    counts[fld][level] += 1
        for fld, c in counts.items():
            total = sum(c.values())
            if total >= 50:
                # add-half smoothing: a level never seen by chance is rare, not impossible
                self.u[fld] = {lv: (n + 0.5) / (total + 0.5 * len(c)) for lv, n in c.items()}
        self._refresh()

    def estimate_m_em(
        self,
        level_rows: Sequence[dict[str, str | None]],
        *,
        fields: Sequence[str] | None = None,
        iterations: int = 50,
        fixed_u: bool = True,
    ) -> dict[str, Any]:
        """Expectation-maximisation over unlabelled candidate pairs: each pair is a match or not; m (and λ, the
        share of matches among the pairs) are re-estimated from the posterior match weights. u stays at the
        random-pair estimate (as Splink does), which keeps EM identifiable.

        Run it per entity: parcel fields over (certificate, parcel) pairs, person fields over (person, owner)
        pairs. Pooled, the second parcel of the same owner looks like a match on every person field and EM
        learns that a differing certificate serial is normal among matches."""
        n = len(level_rows)
        if n < 20:
            return {"pairs": n, "skipped": "too few pairs"}
        fields = list(fields or LEVELS)
        codes = {fld: {lv: i for i, lv in enumerate(LEVELS[fld])} for fld in fields}
        obs = np.full((n, len(fields)), -1, dtype=np.int16)
        for i, row in enumerate(level_rows):
            for j, fld in enumerate(fields):
                level = row.get(fld)
                if level is not None:
                    obs[i, j] = codes[fld][level]
        lam = 0.3
        history = []
        for _ in range(iterations):
            log_m = np.zeros(n)
            log_u = np.zeros(n)
            for j, fld in enumerate(fields):
                col = obs[:, j]
                seen = col >= 0
                mv = np.array([self.m[fld][lv] for lv in LEVELS[fld]])
                uv = np.array([self.u[fld][lv] for lv in LEVELS[fld]])
                log_m[seen] += np.log(mv[col[seen]])
                log_u[seen] += np.log(uv[col[seen]])
            a = np.log(lam) + log_m
            b = np.log(1 - lam) + log_u
            post = 1 / (1 + np.exp(np.clip(b - a, -700, 700)))
            new_lam = float(np.clip(post.mean(), 1e-6, 1 - 1e-6))
            for j, fld in enumerate(fields):
                col = obs[:, j]
                seen = col >= 0
                if post[seen].sum() < 1:
                    continue
                counts = np.bincount(col[seen], weights=post[seen], minlength=len(LEVELS[fld]))
                self.m[fld] = {lv: float(c) + 0.1 for lv, c in zip(LEVELS[fld], counts, strict=True)}
                if not fixed_u:
                    ucounts = np.bincount(col[seen], weights=1 - post[seen], minlength=len(LEVELS[fld]))
                    self.u[fld] = {lv: float(c) + 0.1 for lv, c in zip(LEVELS[fld], ucounts, strict=True)}
            self._refresh()
            history.append(new_lam)
            if abs(new_lam - lam) < 1e-6:
                lam = new_lam
                break
            lam = new_lam
        return {"pairs": n, "iterations": len(history), "lambda": lam}

    def refine_with_labels(
        self, level_rows: Sequence[dict[str, str | None]], labels: Sequence[bool], *, strength: float = 200.0
    ) -> dict[str, int]:
        """Update m (from confirmed matches) and u (from rejected pairs) with labelled pairs, e.g. review
        decisions: the current estimate acts as a prior worth `strength` pairs, so a few decisions nudge
        the model and thousands dominate it."""
        matches = [r for r, ok in zip(level_rows, labels, strict=True) if ok]
        non = [r for r, ok in zip(level_rows, labels, strict=True) if not ok]
        for rows, table in ((matches, self.m), (non, self.u)):
            for fld, levels in LEVELS.items():
                counts = dict.fromkeys(levels, 0.0)
                for r in rows:
                    level = r.get(fld)
                    if level is not None:
                        counts[level] += 1
                total = sum(counts.values())
                if total == 0:
                    continue
                table[fld] = {lv: table[fld][lv] * strength + counts[lv] for lv in levels}
        self._refresh()
        return {"matches": len(matches), "non_matches": len(non)}

    # --- persistence ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        body = {
            "m": self.m,
            "u": self.u,
            "prior_in_registry": self.prior_in_registry,
            "calibration": self.calibration.to_dict(),
            "tf_floor": self.tf_floor,
            "secondary_person_floor": self.secondary_person_floor,
            "other_parcels_per_owner": self.other_parcels_per_owner,
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
        return {
            "version": f"fs-{digest}",
            "trained_at": self.trained_at,
            "training": self.training,
            "levels": {k: list(v) for k, v in LEVELS.items()},
            **body,
        }

    def save(self, path: Path | str = MODEL_PATH) -> str:
        data = self.to_dict()
        self.version = data["version"]
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        return self.version

    @classmethod
    def load(cls, path: Path | str = MODEL_PATH) -> Model:
        path = Path(path)
        if not path.exists():
            return cls.default()
        data = json.loads(path.read_text(encoding="utf-8"))
        model = cls(
            data["m"],
            data["u"],
            prior_in_registry=data.get("prior_in_registry", 0.9),
            calibration=Calibration.from_dict(data.get("calibration")),
            tf_floor=data.get("tf_floor", 2e-6),
            secondary_person_floor=data.get("secondary_person_floor", -4.0),
            other_parcels_per_owner=data.get("other_parcels_per_owner", 0.15),
            version=data.get("version", "unknown"),
            trained_at=data.get("trained_at"),
            training=data.get("training", {}),
        )
        return model


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
