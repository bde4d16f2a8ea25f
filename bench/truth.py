"""Score pipeline output against the generator's ground truth (truth.jsonl). Used by `intake demo` and the benchmarks."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.document import Document, SubmissionResult
from worker.vntext import clean

# fields scored when the truth has them; others in the truth (e.g. mrz) are scored too if the document has them
IGNORED_TRUTH_FIELDS = frozenset({"card_generation", "certificate_form", "degradation"})


def load_truth(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def values_equal(got: Any, expected: Any) -> bool:
    if expected is None or got is None:
        return got == expected
    if isinstance(expected, float) or isinstance(got, float):
        try:
            return math.isclose(float(got), float(expected), abs_tol=0.05)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, int) and not isinstance(expected, bool):
        try:
            return int(got) == expected
        except (TypeError, ValueError):
            return False
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(values_equal, got, expected))
    return clean(str(got)) == clean(str(expected))


def _doc_key(file: str, page: int, part: int | None) -> tuple[str, int, int]:
    return (Path(file).name, page, part or 0)


@dataclass
class Scorecard:
    field_total: Counter[str] = field(default_factory=Counter)
    field_correct: Counter[str] = field(default_factory=Counter)
    # (confidence, correct) per field occurrence, for calibration tables
    confidences: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    doc_total: int = 0
    doc_type_correct: int = 0
    doc_missing: int = 0
    submissions: int = 0
    in_registry: int = 0
    top1_correct: int = 0
    owner_correct: int = 0
    absent: int = 0
    absent_below_half: int = 0
    bands: Counter[str] = field(default_factory=Counter)
    auto_accept_correct: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, truth: dict[str, Any], result: SubmissionResult) -> None:
        self.submissions += 1
        docs = {_doc_key(d.source, d.page, d.part): d for d in result.documents}
        for err in result.errors:
            self.errors[err.code] += 1
        for t in truth["documents"]:
            self.doc_total += 1
            doc = docs.get(_doc_key(t["file"], t.get("page", 1), t.get("part")))
            if doc is None:
                self.doc_missing += 1
            elif doc.doc_type == t["doc_type"]:
                self.doc_type_correct += 1
            self._score_fields(t, doc)
        self._score_match(truth, result)

    def _observe(self, name: str, got: Any, confidence: float, expected: Any) -> None:
        ok = values_equal(got, expected)
        self.field_total[name] += 1
        self.field_correct[name] += ok
        self.confidences.setdefault(name, []).append((confidence, ok))

    def _score_fields(self, t: dict[str, Any], doc: Document | None) -> None:
        for name, expected in t.get("fields", {}).items():
            if name in IGNORED_TRUTH_FIELDS or (expected is None and name != "date_of_expiry"):
                continue
            fv = doc.fields.get(name) if doc else None
            self._observe(name, fv.value if fv else None, fv.confidence if fv else 0.0, expected)
        for i, owner in enumerate(t.get("owners") or []):
            got_owner = doc.owners[i] if doc and i < len(doc.owners) else {}
            for name, expected in owner.items():
                if expected is None:
                    continue
                fv = got_owner.get(name)
                self._observe(f"owner.{name}", fv.value if fv else None, fv.confidence if fv else 0.0, expected)

    def _score_match(self, truth: dict[str, Any], result: SubmissionResult) -> None:
        best = result.proposals[0] if result.proposals else None
        band = best.band if best else "none"
        self.bands[band] += 1
        if truth.get("parcel_id"):
            self.in_registry += 1
            if best and best.parcel_id == truth["parcel_id"]:
                self.top1_correct += 1
                if truth.get("owner_index") and best.owner_id == f"{truth['parcel_id']}:{truth['owner_index']}":
                    self.owner_correct += 1
                if band == "auto_accept":
                    self.auto_accept_correct += 1
        else:
            self.absent += 1
            if best is None or best.confidence < 0.5:
                self.absent_below_half += 1

    def field_accuracy(self) -> list[tuple[str, int, float]]:
        return [(n, self.field_total[n], self.field_correct[n] / self.field_total[n]) for n in sorted(self.field_total)]

    def expected_calibration_error(self, name: str, bins: int = 10) -> float:
        pairs = self.confidences.get(name, [])
        if not pairs:
            return float("nan")
        total, ece = len(pairs), 0.0
        for b in range(bins):
            lo, hi = b / bins, (b + 1) / bins
            in_bin = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c == 1.0)]
            if in_bin:
                conf = sum(c for c, _ in in_bin) / len(in_bin)
                acc = sum(ok for _, ok in in_bin) / len(in_bin)
                ece += len(in_bin) / total * abs(conf - acc)
        return ece
