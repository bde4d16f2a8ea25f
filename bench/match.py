"""`python -m bench match`: matching accuracy, calibration and latency on a generated registry, side by side
with a plain rapidfuzz best-score baseline and Splink.

Data: a registry of --parcels parcels (fixtures.registry.write_registry: dirty names, legacy encodings, old
CMND numbers, decoy neighbours, namesakes, owners with several parcels) and --submissions submissions, about
10% of them for parcels left out of the registry. The read stages are simulated from the ground truth
(worker.match.simulate; --noise scales their error rates) because OCR of thousands of scans would take hours;
`--real N` also runs the real pipeline on N rendered submissions as a check.

    python -m bench match                       # 200k parcels, 2000 submissions, SQLite
    python -m bench match --postgres            # the same on PostgreSQL too
    python -m bench match --parcels 1200000     # Huế scale
    python -m bench match --train               # refit worker/match/model.json on a separate training set
    python -m bench match --import-only --parcels 1200000   # registry import speed only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.match_report import metrics, print_table
from bench.match_runners import run_matcher, run_rapidfuzz, run_splink
from bench.match_samples import make_samples
from fixtures.samples import generate
from models.settings import Settings
from worker.match.model import MODEL_PATH
from worker.match.simulate import Simulator
from worker.match.train import load_truth, train
from worker.pipeline import collect_submissions, process_submission, read_inputs
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.registry import import_csv


@dataclass
class ImportCost:
    """Wall seconds, and CPU seconds of this process and of the normalising worker processes (the numbers to
    trust on a shared machine: on an idle 2-core machine the import takes about max(main, workers) plus the
    index builds, which run after the workers are done and are part of `main`)."""

    wall: float
    main_cpu: float
    workers_cpu: float

    def __str__(self) -> str:
        return f"wall {self.wall:6.1f} s, CPU: this process {self.main_cpu:5.1f} s + workers {self.workers_cpu:5.1f} s"


def _import(csv_path: Path, url: str) -> tuple[Any, ImportCost, Any]:
    upgrade(url)
    engine = make_engine(url)
    started, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = import_csv(csv_path, engine)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cost = ImportCost(
        time.perf_counter() - started,
        time.process_time() - cpu,
        after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime,
    )
    return engine, cost, report


def _pg_database(name: str) -> str:
    host = os.environ.get("INTAKE_TEST_PG_HOST", "127.0.0.1")
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@{host}:5432/{name}"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench match", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--parcels", type=int, default=200_000, help="registry size (parcels)")
    ap.add_argument("--submissions", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--noise", type=float, default=1.0, help="scale of the simulated read-stage error rates")
    ap.add_argument(
        "--absent", type=float, default=0.1, help="share of submissions whose parcel is not in the registry"
    )
    ap.add_argument("--postgres", action="store_true", help="also import and match on PostgreSQL at 127.0.0.1")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--baselines", default="rapidfuzz,splink", help="comma list: rapidfuzz, splink, or none")
    ap.add_argument("--baseline-submissions", type=int, default=1000, help="submissions given to the baselines")
    ap.add_argument("--workdir", type=Path, default=None, help="keep generated data here (default: a temp dir)")
    ap.add_argument("--train", action="store_true", help="fit and write worker/match/model.json first")
    ap.add_argument("--train-parcels", type=int, default=30_000)
    ap.add_argument("--train-submissions", type=int, default=4000)
    ap.add_argument("--model-out", type=Path, default=None)
    ap.add_argument("--import-only", action="store_true", help="only measure the registry import")
    ap.add_argument("--no-reimport", action="store_true", help="skip the idempotent re-import check")
    ap.add_argument(
        "--real",
        type=int,
        default=0,
        metavar="N",
        help="instead: render N submissions, read them with the real pipeline (Tesseract) and match those reads",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="bench-match-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None)  # type: ignore[call-arg,unused-ignore]
    try:
        if args.real:
            return _real(work, args.real, args.seed, settings)
        if args.train:
            _train(args, work)
        data = work / f"test-{args.parcels}-{args.submissions}-{args.seed}"
        if not (data / "truth.jsonl").exists():
            t0 = time.perf_counter()
            info = make_samples(data, args.submissions, args.seed, parcels=args.parcels, absent_fraction=args.absent)
            print(f"test set: {info} ({time.perf_counter() - t0:.1f} s)")
        csv_path = data / "parcels.csv"
        engines = _import_registries(args, work, csv_path)
        if args.import_only:
            return 0
        truth = load_truth(data / "truth.jsonl")
        sim = Simulator(args.seed, args.noise)
        subs = [(t, sim.documents(t)) for t in truth]
        results = _match_ours(engines, subs, settings)
        base = subs[: args.baseline_submissions]
        names = [b for b in args.baselines.split(",") if b and b != "none"]
        if "rapidfuzz" in names:
            results.append(("rapidfuzz", metrics(run_rapidfuzz(csv_path, base, settings.auto_accept_threshold))))
        if "splink" in names:
            outcomes, note = run_splink(csv_path, base, settings.auto_accept_threshold, args.seed)
            print(f"  splink: {note}")
            if outcomes:
                results.append(("splink", metrics(outcomes)))
        if names and engines:
            label, engine = engines[0]
            results.append((f"ours/{label} same {len(base)}", metrics(run_matcher(engine, base, settings))))
        print(
            f"\nmatching: {len(subs)} submissions ({sum(1 for t in truth if not t['parcel_id'])} absent), registry {args.parcels} parcels, noise {args.noise}"
        )
        print_table(results)
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


def _train(args: argparse.Namespace, work: Path) -> None:
    """--train: a training set on another seed, and the model fitted on it."""
    tdir = work / "train"
    t0 = time.perf_counter()
    info = make_samples(
        tdir, args.train_submissions, args.seed + 1000, parcels=args.train_parcels, absent_fraction=args.absent
    )
    print(f"training set: {info} ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    stats = train(tdir, args.model_out or MODEL_PATH, seed=args.seed + 1000, noise=args.noise)
    print(f"trained {stats['version']} in {time.perf_counter() - t0:.1f} s: {json.dumps(stats, default=str)}")


def _import_registries(args: argparse.Namespace, work: Path, csv_path: Path) -> list[tuple[str, Any]]:
    """The registry imported into SQLite (and its idempotent re-import) and PostgreSQL, as asked, timed."""
    rows = sum(1 for _ in csv_path.open(encoding="utf-8")) - 1
    engines: list[tuple[str, Any]] = []
    print(f"\nregistry import ({rows} rows, {csv_path.stat().st_size / 1e6:.0f} MB):")
    if not args.no_sqlite:
        db = work / f"bench-{args.parcels}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        engine, cost, report = _import(csv_path, f"sqlite:///{db}")
        print(f"  SQLite     {cost}  ({rows / cost.wall:.0f} rows/s wall; {report.summary().splitlines()[-1]})")
        if not args.no_reimport:
            t0, c0 = time.perf_counter(), time.process_time()
            again = _reimport(csv_path, engine)
            print(
                f"  SQLite re-import (idempotent) wall {time.perf_counter() - t0:.1f} s, "
                f"CPU {time.process_time() - c0:.1f} s + workers: {again}"
            )
        engines.append(("SQLite", engine))
    if args.postgres:
        url = _pg_database("intake_bench_match")
        engine, cost, report = _import(csv_path, url)
        print(f"  PostgreSQL {cost}  ({rows / cost.wall:.0f} rows/s wall; server CPU not counted)")
        engines.append(("PostgreSQL", engine))
    return engines


def _match_ours(
    engines: list[tuple[str, Any]], subs: list[tuple[dict[str, Any], list[Any]]], settings: Settings
) -> list[tuple[str, dict[str, float]]]:
    """Our matcher on every registry copy: the metrics, with superseded parcels and each kind printed."""
    results: list[tuple[str, dict[str, float]]] = []
    for label, engine in engines:
        outcomes = run_matcher(engine, subs, settings)
        results.append((f"ours/{label}", metrics(outcomes)))
        split = [o for o in outcomes if o.superseded]
        if split:
            handled = sum(o.top == o.truth_parcel and o.band != "auto_accept" for o in split)
            print(
                f"  superseded (split) parcels: {handled}/{len(split)} proposed with the old record and sent to review ({label})"
            )
        kinds = Counter(o.kind for o in outcomes)
        for kind in sorted(kinds):
            part = [o for o in outcomes if o.kind == kind]
            m = metrics(part)
            print(
                f"  {label} {kind:9} n={len(part):5}  top-1 {m['top1_accuracy']:.4f}  auto {m['auto_accept_rate']:.3f}  auto precision {m['auto_accept_precision']:.4f}"
            )
    return results


def _real(work: Path, n: int, seed: int, settings: Settings) -> int:
    """The check on real reads: rendered and degraded scans through load → OCR → extract, then matching."""
    out = work / f"real-{n}-{seed}"
    if not (out / "truth.jsonl").exists():
        generate(out, n, seed)
    engine, _cost, _report = _import(out / "parcels.csv", f"sqlite:///{work / f'real-{n}-{seed}.db'}")
    truth = {t["submission_id"]: t for t in load_truth(out / "truth.jsonl")}
    subs = []
    started = time.perf_counter()
    lines = []
    for submission in collect_submissions(sorted(p for p in (out / "submissions").iterdir() if p.is_dir())):
        result = process_submission(submission.submission_id, read_inputs(submission), settings=settings)
        lines.append(result.model_dump_json())
        subs.append((truth[submission.submission_id], result.documents))
    (out / "documents.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"read {len(subs)} submissions with the real pipeline in {time.perf_counter() - started:.0f} s")
    outcomes = run_matcher(engine, subs, settings)
    for o, (t, _docs) in zip(outcomes, subs, strict=True):
        print(
            f"  {t['submission_id']} {t['kind']:9} truth {t['parcel_id']!s:10} top {o.top!s:10} {o.confidence:.3f} {o.band}"
        )
    print_table([(f"real reads ({len(subs)})", metrics(outcomes))])
    return 0


def _reimport(csv_path: Path, engine: Any) -> str:
    r = import_csv(csv_path, engine)
    return f"{r.parcels_inserted} new, {r.parcels_updated} updated, {r.parcels_unchanged} unchanged parcels"


if __name__ == "__main__":
    sys.exit(main())
