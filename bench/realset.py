"""Hashed-truth scoring for sets of labelled images (the real dev set in `../shared/real/` and synthetic sets
written in the same format).

A manifest is tab-separated with a header: file, repo, commit, path, doc_type, design, capture, truth, where
`truth` is a JSON object mapping a field to the salted hash of its normalised value (`owners` is a list of
{full_name, birth_year, id_number} hashes). Values never appear in clear: real images show real people's
documents. `normalise` and `digest` are the rules of the shared `realset.py` (standard library only there);
`tests/unit/test_bench_real.py` checks they give the same hashes, and this module needs no copy of that file.

Scoring follows `realset.py score` exactly, so both print the same counts for the same results: a manifest
row is matched to the result whose `submission_id` is the image's file stem, and within it to the document
with the most fields; an empty value is missing; a wrong value at confidence >= 0.9 is "confidently wrong".
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.extract.confidence import expected_calibration_error

SALT = "land-intake-real/v1"
HIGH = 0.9
CODE_FIELDS = frozenset(
    {"id_number", "old_id_number", "certificate_serial", "registry_number", "parcel_number", "map_sheet_number", "mrz"}
)
MANIFEST_COLUMNS = ("file", "repo", "commit", "path", "doc_type", "design", "capture", "truth")
RIGHT, WRONG, MISSING = "right", "wrong", "missing"


def normalise(field_name: str, value: object) -> str:
    """What two readings must share to count as the same value (the shared realset.py's rules)."""
    if value is None:
        return ""
    if field_name == "area_m2":
        try:
            return f"{float(str(value).replace(',', '.')):.2f}"
        except ValueError:
            return ""
    if isinstance(value, list | tuple):
        value = "\n".join(str(v) for v in value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    if field_name == "mrz":
        return "\n".join(line.replace(" ", "").upper() for line in text.splitlines() if line.strip())
    if field_name in CODE_FIELDS:
        return re.sub(r"[^0-9A-ZĐ]", "", text.upper())
    if field_name == "sex":
        return {"nam": "male", "nữ": "female", "nu": "female"}.get(text.casefold(), text.casefold())
    text = re.sub(r"[^\w\s]", " ", text)  # punctuation never decides a place or a name
    return " ".join(text.split()).casefold()


def digest(field_name: str, value: object) -> str:
    """The salted hash a manifest stores for a value ("" for no value)."""
    norm = normalise(field_name, value)
    return hashlib.sha256(f"{SALT}|{field_name}|{norm}".encode()).hexdigest()[:20] if norm else ""


@dataclass(frozen=True)
class ManifestRow:
    file: str
    repo: str
    commit: str
    path: str
    doc_type: str
    design: str
    capture: str
    truth: dict[str, Any]

    @property
    def stem(self) -> str:
        return Path(self.file).stem


def read_manifest(path: Path) -> list[ManifestRow]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(MANIFEST_COLUMNS):
            raise ValueError(
                f"{path}:{number}: expected {len(MANIFEST_COLUMNS)} tab-separated columns, got {len(cells)}"
            )
        values = dict(zip(MANIFEST_COLUMNS, cells, strict=True))
        rows.append(ManifestRow(**{**values, "truth": json.loads(values["truth"])}))
    return rows


def write_manifest(path: Path, rows: Iterable[ManifestRow]) -> None:
    lines = ["\t".join(MANIFEST_COLUMNS)]
    for r in rows:
        truth = json.dumps(r.truth, ensure_ascii=False, separators=(",", ":"))
        lines.append("\t".join((r.file, r.repo, r.commit, r.path, r.doc_type, r.design, r.capture, truth)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def hash_truth(fields: Mapping[str, Any], owners: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A manifest `truth` cell from clear values (for synthetic sets): fields without a value are left out."""
    truth: dict[str, Any] = {name: digest(name, v) for name, v in fields.items() if digest(name, v)}
    hashed_owners = [{k: digest(k, v) for k, v in o.items() if digest(k, v)} for o in owners]
    if hashed_owners:
        truth["owners"] = hashed_owners
    return truth


@dataclass(frozen=True)
class Observation:
    """One scored field of one document: no value, only its outcome and the confidence it was given with."""

    file: str
    design: str
    capture: str
    field: str
    outcome: str  # right | wrong | missing
    confidence: float | None


@dataclass
class DocumentScore:
    file: str
    design: str
    capture: str
    expected_doc_type: str
    got_doc_type: str | None
    cpu_seconds: float | None
    observations: list[Observation] = field(default_factory=list)

    @property
    def doc_type_right(self) -> bool:
        return self.got_doc_type == self.expected_doc_type


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """`intake process --json` lines (or `bench real --save-results`) by submission id."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            result = json.loads(line)
            out[result["submission_id"]] = result
    return out


def _main_document(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    docs = (result or {}).get("documents") or []
    return max(docs, key=lambda d: len(d.get("fields") or {})) if docs else None


def _cell(cell: Any) -> tuple[Any, float | None]:
    if isinstance(cell, dict):
        conf = cell.get("confidence")
        return cell.get("value"), None if conf is None else float(conf)
    return cell, None


def score_row(row: ManifestRow, result: Mapping[str, Any] | None) -> DocumentScore:
    doc = _main_document(result)
    cpu = (result or {}).get("cpu_seconds")
    score = DocumentScore(
        row.file, row.design, row.capture, row.doc_type, doc.get("doc_type") if doc else None,
        float(cpu) if cpu is not None else None,
    )  # fmt: skip

    def observe(name: str, hash_field: str, want: str, cell: Any) -> None:
        value, conf = _cell(cell)
        outcome = MISSING if value in (None, "", []) else RIGHT if digest(hash_field, value) == want else WRONG
        score.observations.append(Observation(row.file, row.design, row.capture, name, outcome, conf))

    fields = (doc or {}).get("fields") or {}
    for name, want in row.truth.items():
        if name == "owners":
            got = (doc or {}).get("owners") or []
            for i, owner in enumerate(want):
                for key, h in owner.items():
                    observe(f"owners.{key}", key, h, got[i].get(key) if i < len(got) else None)
            continue
        observe(name, name, want, fields.get(name))
    return score


def score_all(rows: Iterable[ManifestRow], results: Mapping[str, Mapping[str, Any]]) -> list[DocumentScore]:
    return [score_row(r, results.get(r.stem)) for r in rows]


@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    missing: int = 0
    wrong_high: int = 0
    pairs: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, right) of every value given

    def add(self, o: Observation) -> None:
        if o.outcome == RIGHT:
            self.right += 1
        elif o.outcome == WRONG:
            self.wrong += 1
        else:
            self.missing += 1
            return
        if o.confidence is not None:
            self.pairs.append((o.confidence, o.outcome == RIGHT))
            if o.outcome == WRONG and o.confidence >= HIGH:
                self.wrong_high += 1

    @property
    def n(self) -> int:
        return self.right + self.wrong + self.missing

    @property
    def accuracy(self) -> float:
        return self.right / self.n if self.n else float("nan")

    @property
    def given(self) -> int:
        return self.right + self.wrong

    @property
    def ece(self) -> float:
        return expected_calibration_error([c for c, _ in self.pairs], [ok for _, ok in self.pairs])

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "right": self.right, "wrong": self.wrong, "missing": self.missing,
            "wrong_high": self.wrong_high, "accuracy": _round(self.accuracy), "ece": _round(self.ece),
        }  # fmt: skip


def _round(x: float) -> float | None:
    return None if x != x else round(x, 4)


def tally(observations: Iterable[Observation]) -> Tally:
    t = Tally()
    for o in observations:
        t.add(o)
    return t


def tally_by(observations: Iterable[Observation], key: str) -> dict[str, Tally]:
    out: dict[str, Tally] = defaultdict(Tally)
    for o in observations:
        out[getattr(o, key)].add(o)
    return dict(sorted(out.items()))


def reliability(pairs: list[tuple[float, bool]], bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width confidence bins: count, mean confidence and accuracy of the values given in each."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        rows.append({
            "low": lo, "high": hi, "count": len(inside),
            "mean_confidence": _round(statistics.fmean(c for c, _ in inside)) if inside else None,
            "accuracy": _round(statistics.fmean(ok for _, ok in inside)) if inside else None,
        })  # fmt: skip
    return rows


def summarise(docs: list[DocumentScore]) -> dict[str, Any]:
    """Everything `bench real` prints and writes as JSON, as counts and rates (never a value)."""
    observations = [o for d in docs for o in d.observations]
    total = tally(observations)
    cpu = [d.cpu_seconds for d in docs if d.cpu_seconds is not None]
    by_design_docs: dict[str, list[DocumentScore]] = defaultdict(list)
    by_capture_docs: dict[str, list[DocumentScore]] = defaultdict(list)
    for d in docs:
        by_design_docs[d.design].append(d)
        by_capture_docs[d.capture].append(d)

    def groups(key: str, grouped: dict[str, list[DocumentScore]]) -> dict[str, Any]:
        tallies = tally_by(observations, key)
        return {
            name: {
                "documents": len(members),
                "doc_type_accuracy": _round(sum(m.doc_type_right for m in members) / len(members)),
                **(tallies[name].as_dict() if name in tallies else Tally().as_dict()),
                "fields": {
                    f: t.as_dict()
                    for f, t in tally_by((o for o in observations if getattr(o, key) == name), "field").items()
                },
            }
            for name, members in sorted(grouped.items())
        }

    return {
        "documents": len(docs),
        "doc_type_right": sum(d.doc_type_right for d in docs),
        "doc_type_accuracy": _round(sum(d.doc_type_right for d in docs) / len(docs)) if docs else None,
        "all_fields": total.as_dict(),
        "values_given": total.given,
        "wrong_high_share_of_given": _round(total.wrong_high / total.given) if total.given else None,
        "fields": {name: t.as_dict() for name, t in tally_by(observations, "field").items()},
        "by_design": groups("design", by_design_docs),
        "by_capture": groups("capture", by_capture_docs),
        "reliability": reliability(total.pairs),
        "cpu_seconds_per_image": {
            "measured": len(cpu),
            "mean": _round(statistics.fmean(cpu)) if cpu else None,
            "median": _round(statistics.median(cpu)) if cpu else None,
        },
        "per_document": [
            {
                "file": d.file, "design": d.design, "capture": d.capture, "doc_type_expected": d.expected_doc_type,
                "doc_type_got": d.got_doc_type, "cpu_seconds": d.cpu_seconds,
                "fields": [[o.field, o.outcome] for o in d.observations],  # owners.* once per owner
            }
            for d in docs
        ],
    }  # fmt: skip
