"""Fit the matching model and store it as JSON (worker/match/model.json), so matching needs no training at
runtime.

train(samples_dir, out_path):
  1. load the sample set's registry (parcels.csv) into a scratch SQLite database;
  2. read the submissions: the pipeline's output (documents.jsonl, lines of `intake process --json`) when
     present, else the read stages simulated from truth.jsonl (worker.match.simulate);
  3. split the submissions in two halves, A and B;
  4. u: comparison levels of random (submission, parcel) pairs from A, which are almost surely non-matches;
  5. m: expectation-maximisation over A's blocked candidate pairs, without using the labels;
  6. calibration: on B (held out from 4-5), fit isotonic regression of "is this candidate the true parcel"
     on the model's raw posterior, for every candidate a reviewer would see.

refine_from_reviews(engine, reviewed) then folds review decisions (accepted / rejected candidates) into m and u."""

from __future__ import annotations

import json
import logging
import random
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, text

from models.document import Document, SubmissionResult
from models.settings import Settings
from worker.match.comparators import PARCEL_FIELDS
from worker.match.features import scan_submission
from worker.match.matcher import Matcher
from worker.match.model import (
    MODEL_PATH,
    Calibration,
    Model,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    now_iso,
)
from worker.match.simulate import Simulator
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.registry import import_csv

log = logging.getLogger(__name__)


def load_truth(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_submissions(
    samples_dir: Path, *, seed: int = 0, noise: float = 1.0
) -> list[tuple[dict[str, Any], list[Document]]]:
    """(truth, documents) per submission: real pipeline output if the set has it, else simulated."""
    truth = load_truth(samples_dir / "truth.jsonl")
    real: dict[str, list[Document]] = {}
    documents_path = samples_dir / "documents.jsonl"
    if documents_path.exists():
        with documents_path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    result = SubmissionResult.model_validate_json(line)
                    real[result.submission_id] = result.documents
    sim = Simulator(seed, noise)
    return [(t, real[t["submission_id"]] if t["submission_id"] in real else sim.documents(t)) for t in truth]


def scratch_registry(
    samples_dir: Path, database_url: str | None = None
) -> tuple[Engine, tempfile.TemporaryDirectory[str] | None]:
    """The sample set's registry in a database: a scratch SQLite file unless a URL is given."""
    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="intake-train-")
        database_url = f"sqlite:///{tmp.name}/registry.db"
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        empty = conn.execute(text("SELECT count(*) FROM registry_parcels")).scalar_one() == 0
    if empty:
        import_csv(samples_dir / "parcels.csv", engine)
    return engine, tmp


def _random_parcel_ids(engine: Engine, k: int, rng: random.Random) -> list[str]:
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT parcel_id FROM registry_parcels"))]
    return rng.sample(ids, min(k, len(ids)))


def fit(
    matcher: Matcher,
    submissions: list[tuple[dict[str, Any], list[Document]]],
    *,
    seed: int = 0,
    random_pairs: int = 20,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit matcher.model in place on these submissions (half for u/m, half held out for calibration)."""
    rng = random.Random(seed)
    order = list(range(len(submissions)))
    rng.shuffle(order)
    half = len(order) // 2
    part_a = [submissions[i] for i in order[:half]]
    part_b = [submissions[i] for i in order[half:]]
    model = matcher.model
    engine = matcher.engine
    stats: dict[str, Any] = {
        "submissions": len(submissions),
        "em_submissions": len(part_a),
        "calibration_submissions": len(part_b),
    }

    # u: random pairs
    random_ids = _random_parcel_ids(engine, 5000, rng)
    u_rows: list[dict[str, str | None]] = []
    with engine.connect() as conn:
        parcels = matcher.repo.fetch(conn, random_ids)
        pool = list(parcels.values())
        for i, (_truth, docs) in enumerate(part_a):
            sub = scan_submission(docs)
            for parcel in rng.sample(pool, min(random_pairs, len(pool))):
                if parcel.parcel_id == _truth.get("parcel_id"):
                    continue
                u_rows.append(matcher.score(sub, parcel, conn).levels)
            if progress and i % 200 == 0:
                progress("u", i, len(part_a))
    model.estimate_u(u_rows)
    stats["u_pairs"] = len(u_rows)
    with engine.connect() as conn:
        # people found on more than one parcel by their personal number; at least a floor, because many
        # registry rows have no or an old number and so hide some of the repeats
        model.other_parcels_per_owner = max(0.05, matcher.repo.owners_per_person(conn))
    stats["other_parcels_per_owner"] = model.other_parcels_per_owner

    _estimate_m(matcher, part_a, stats, progress)
    _calibrate(matcher, part_b, stats, progress)
    model.trained_at = now_iso()
    model.training = stats
    return stats


def _estimate_m(
    matcher: Matcher,
    part_a: list[tuple[dict[str, Any], list[Document]]],
    stats: dict[str, Any],
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """m: expectation-maximisation over part A's blocked candidate pairs, without the labels."""
    model, engine = matcher.model, matcher.engine
    # one entity at a time (see Model.estimate_m_em)
    parcel_rows: list[dict[str, str | None]] = []
    person_rows: list[dict[str, str | None]] = []
    with engine.connect() as conn:
        for i, (_truth, docs) in enumerate(part_a):
            sub = scan_submission(docs)
            parcels_found, _ = matcher.candidates(sub, conn)
            for parcel in parcels_found.values():
                if sub.has_certificate:
                    levels = matcher.score(sub, parcel, conn).levels
                    parcel_rows.append({f: levels.get(f) for f in PARCEL_FIELDS})
                for person in sub.persons[:1]:
                    for owner in parcel.owners:
                        person_rows.append(matcher._match_person(conn, person, owner).levels)
            if progress and i % 200 == 0:
                progress("m", i, len(part_a))
    # Splink-style sessions: pairs agreeing on one strong key are mostly matches, and EM over the *other*
    # fields of those pairs estimates their m without the key's own agreement biasing it
    sessions = (
        (
            "serial_exact",
            parcel_rows,
            lambda r: r.get("certificate_serial") == "exact",
            [f for f in PARCEL_FIELDS if f != "certificate_serial"],
        ),
        (
            "parcel_ref_and_commune",
            parcel_rows,
            lambda r: r.get("parcel_ref") == "exact" and r.get("commune") == "exact",
            ["certificate_serial"],
        ),
        ("id_exact", person_rows, lambda r: r.get("id_number") == "exact", ["name", "birth_year"]),
        (
            "name_and_year",
            person_rows,
            lambda r: r.get("name") in ("exact", "tones_differ", "no_diacritics") and r.get("birth_year") == "exact",
            ["id_number"],
        ),
    )
    stats["em"] = {}
    for name, rows, keep, fields in sessions:
        chosen = [r for r in rows if keep(r)]
        stats["em"][name] = model.estimate_m_em(chosen, fields=fields)


def _calibrate(
    matcher: Matcher,
    part_b: list[tuple[dict[str, Any], list[Document]]],
    stats: dict[str, Any],
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """The calibration map, fitted on part B (held out from u and m): isotonic or Platt, whichever is better
    calibrated on a split of it."""
    model, engine = matcher.model, matcher.engine
    model.calibration = Calibration()
    raw: list[float] = []
    correct: list[bool] = []
    sub_of: list[int] = []  # which held-out submission each pair comes from
    top_index: set[int] = set()  # pairs that are a submission's best candidate
    top_raw: list[float] = []
    top_correct: list[bool] = []
    k = matcher.settings.max_proposals
    with engine.connect() as conn:
        for i, (truth, docs) in enumerate(part_b):
            ranked = matcher.rank(scan_submission(docs), conn)[:k]
            for j, s in enumerate(ranked):
                ok = s.parcel.parcel_id == truth.get("parcel_id")
                if j == 0:
                    top_index.add(len(raw))
                    top_raw.append(s.raw)
                    top_correct.append(ok)
                raw.append(s.raw)
                correct.append(ok)
                sub_of.append(i)
            if progress and i % 200 == 0:
                progress("calibration", i, len(part_b))
    if len(raw) >= 50:
        # choose isotonic or Platt on a split of the held-out half, then fit the winner on all of it
        first = [i for i, sid in enumerate(sub_of) if sid % 2 == 0]
        second = [i for i, sid in enumerate(sub_of) if sid % 2 == 1 and i in top_index]
        pick = lambda idx, seq: [seq[i] for i in idx]  # noqa: E731
        candidates = {
            "isotonic": fit_isotonic(pick(first, raw), pick(first, correct)),
            "platt": fit_platt(pick(first, raw), pick(first, correct)),
        }
        held_ece = {
            name: expected_calibration_error([cal(raw[i]) for i in second], pick(second, correct))
            for name, cal in candidates.items()
        }
        method = min(held_ece, key=lambda name: held_ece[name])
        model.calibration = fit_isotonic(raw, correct) if method == "isotonic" else fit_platt(raw, correct)
        stats["calibration"] = {
            "pairs": len(raw),
            "method": method,
            "held_out_ece_top1": held_ece,
            "ece_raw_top1": expected_calibration_error(top_raw, top_correct),
            "ece_fitted_top1": expected_calibration_error([model.calibration(r) for r in top_raw], top_correct),
        }


def train(
    samples_dir: str | Path,
    out_path: str | Path = MODEL_PATH,
    *,
    seed: int = 0,
    noise: float = 1.0,
    database_url: str | None = None,
    settings: Settings | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit m/u (EM, no labels) and the calibration map (held-out labels) on a generated sample set and write
    the model JSON to `out_path`. Returns training statistics, including the model version."""
    samples_dir = Path(samples_dir)
    submissions = load_submissions(samples_dir, seed=seed, noise=noise)
    engine, tmp = scratch_registry(samples_dir, database_url)
    try:
        matcher = Matcher(engine, settings, model=Model.default())
        stats = fit(matcher, submissions, seed=seed, progress=progress)
        stats["samples_dir"] = samples_dir.name
        stats["noise"] = noise
        matcher.model.training = stats
        version = matcher.model.save(out_path)
        stats["version"] = version
        return stats
    finally:
        engine.dispose()
        if tmp is not None:
            tmp.cleanup()


class ReviewedPair(Protocol):
    """One candidate a reviewer judged (worker.store.review.DecidedPair)."""

    @property
    def parcel_id(self) -> str: ...

    @property
    def accepted(self) -> bool: ...


def refine_from_reviews(
    engine: Engine,
    reviewed: Iterable[tuple[list[Document], Sequence[ReviewedPair]]],
    model_path: str | Path = MODEL_PATH,
    out_path: str | Path | None = None,
    *,
    settings: Settings | None = None,
    strength: float = 200.0,
) -> dict[str, Any]:
    """Fold standing review decisions into the model: accepted (submission, parcel) pairs update m, rejected
    ones u (the current model counts as `strength` pairs of prior evidence). `reviewed`: each decided
    submission's stored documents with the candidates judged on it. Writes the refined model."""
    matcher = Matcher(engine, settings, model=Model.load(model_path))
    rows: list[dict[str, str | None]] = []
    labels: list[bool] = []
    with engine.connect() as conn:
        for documents, decided in reviewed:
            if not documents:
                continue
            sub = scan_submission(documents)
            parcels = matcher.repo.fetch(conn, [p.parcel_id for p in decided])
            for pair in decided:
                parcel = parcels.get(pair.parcel_id)
                if parcel is not None:
                    rows.append(matcher.score(sub, parcel, conn).levels)
                    labels.append(pair.accepted)
    counts = (
        matcher.model.refine_with_labels(rows, labels, strength=strength) if rows else {"matches": 0, "non_matches": 0}
    )
    result: dict[str, Any] = dict(counts)
    matcher.model.training = {**matcher.model.training, "refined_with_reviews": result}
    result["version"] = matcher.model.save(out_path or model_path)
    return result
