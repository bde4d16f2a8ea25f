"""Calibration that transfers: the confidences as given today against a post-hoc calibrator checked by
cross-validation, on the real dev set, a synthetic set and world certificate renders, each reported separately.

    python -m bench calibrate --manifest ../shared/real/dev.tsv --images /tmp/realdev --synthetic 48 --seed 7
    python -m bench calibrate --manifest ... --real-results real.jsonl --synthetic-dir DIR   # saved output, no reading
    python -m bench calibrate ... --world 40 --world-seed 1023 --world-dump F   # and world certificates (bench gcn)
    python -m bench calibrate ... --write-model      # also store the calibrator fitted on everything (calibration.json)

Every value a document gives for a labelled field becomes one record: the field, its family
(worker/extract/calibration.py), the confidence given, whether a warning names the field, whether a code
(MRZ, QR, barcode) backs it, and whether it is right (its salted hash equals the truth's). No value is kept.
The calibrator (per family, a logistic map on those features pulled towards the identity) is checked two
ways: leave one image out over real and synthetic pooled, and, stricter, leave one source repository out
(each real repository, the synthetic set and the world renders, held out whole). Output is counts and rates only.

The world renders (`bench gcn --world`: certificates as they arrive, seals, handwriting, phone photos and
booklets) are where certificate values are held for review most often; the real set holds a handful. Without
them the certificate family learns what a held value is worth from a few real values and the synthetic
cards, and can undo the held values' ceiling (gcn/evidence.py `held_ceiling`). Their seed must be a fit seed,
never an evaluation seed of `bench gcn` (5, 23, 41).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import gcn
from bench.real import run_real, write_synthetic_set
from bench.realset import HIGH, ManifestRow, digest, load_results, read_manifest, reliability
from worker.extract.calibration import (
    CALIBRATION_PATH,
    RAW_CONFIDENCE_ENV,
    Calibrator,
    code_backed,
    family_of,
    fit,
    warned,
)
from worker.extract.confidence import expected_calibration_error
from worker.extract.gcn.evidence import held_ceiling

SOURCES = ("real", "synthetic", "world")
EVALUATION_SEEDS = frozenset({5, 23, 41})  # bench gcn's world evaluation seeds: never fitted on


@dataclass(frozen=True)
class Record:
    """One value given for a labelled field: its evidence and whether it is right, never the value."""

    source: str  # real | synthetic | world
    image: str
    repo: str
    field: str
    family: str
    confidence: float
    warned: bool
    code_backed: bool
    right: bool


def _main_document(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    docs = (result or {}).get("documents") or []
    return max(docs, key=lambda d: len(d.get("fields") or {})) if docs else None


def _record(
    source: str,
    row: ManifestRow,
    doc: Mapping[str, Any],
    hash_field: str,
    want: str,
    cell: Any,
    name: str,
    warn_name: str,
) -> Record | None:
    if not isinstance(cell, dict) or cell.get("value") in (None, "", []) or cell.get("confidence") is None:
        return None
    doc_type, warnings = doc.get("doc_type") or "unknown", doc.get("warnings") or []
    return Record(
        source, row.file, row.repo, name, family_of(doc_type, hash_field), float(cell["confidence"]),
        warned(warn_name, warnings), code_backed(cell.get("sources") or []), digest(hash_field, cell["value"]) == want,
    )  # fmt: skip


def records_of(rows: Sequence[ManifestRow], results: Mapping[str, Mapping[str, Any]], source: str) -> list[Record]:
    """The scored values of a set, matched as `bench real` matches them (the main document of each image)."""
    found: list[Record | None] = []
    for row in rows:
        doc = _main_document(results.get(row.stem))
        if doc is None:
            continue
        fields = doc.get("fields") or {}
        for name, want in row.truth.items():
            if name != "owners":
                found.append(_record(source, row, doc, name, want, fields.get(name), name, name))
                continue
            got = doc.get("owners") or []
            for i, owner in enumerate(want):
                for key, h in owner.items():
                    cell = got[i].get(key) if i < len(got) else None
                    found.append(_record(source, row, doc, key, h, cell, f"owners.{key}", f"owner_{i + 1}_{key}"))
    return [r for r in found if r is not None]


def world_records(results: Sequence[Mapping[str, Any]], seed: int) -> list[Record]:
    """The values given on world certificate renders (bench gcn's scored rows), one repository ("world").
    A held value's confidence is capped at today's held ceiling, so rows read under a higher one count as
    they would be given now (the cap is the last step: min(p, old) capped again is min(p, new))."""
    ceiling = held_ceiling()
    out = []
    for r in results:
        case, warnings = r["case"], r.get("warnings") or []
        image = f"world-{seed}/{case['cert']}-{case.get('page_index', case['page'])}"
        for row in r["rows"]:
            if row["got"] in (None, "", []):
                continue
            conf = min(float(row["conf"]), ceiling) if row.get("held") else float(row["conf"])
            warn_name = row.get("warn_name", row["field"])
            out.append(Record(
                "world", image, "world", row["field"], family_of(r.get("doc_type") or "unknown", row["field"]), conf,
                warned(warn_name, warnings), code_backed(row.get("sources") or []), bool(row["ok"]),
            ))  # fmt: skip
    return out


def fit_records(records: Sequence[Record]) -> Calibrator:
    return fit(
        [r.family for r in records], [r.confidence for r in records], [r.warned for r in records],
        [r.code_backed for r in records], [r.right for r in records],
    )  # fmt: skip


def apply_records(cal: Calibrator, records: Sequence[Record]) -> list[float]:
    return [cal.apply(r.family, r.confidence, r.warned, r.code_backed) for r in records]


def cross_validated(records: Sequence[Record], group: Callable[[Record], str]) -> list[float]:
    """Each record's calibrated confidence from a calibrator fitted without its group."""
    out = [0.0] * len(records)
    for g in sorted({group(r) for r in records}):
        held = [i for i, r in enumerate(records) if group(r) == g]
        cal = fit_records([r for r in records if group(r) != g])
        for i, p in zip(held, apply_records(cal, [records[i] for i in held]), strict=True):
            out[i] = p
    return out


def measures(conf: Sequence[float], right: Sequence[bool]) -> dict[str, Any]:
    high = [ok for c, ok in zip(conf, right, strict=True) if c >= HIGH]
    return {
        "values": len(conf),
        "ece": round(expected_calibration_error(list(conf), list(right)), 4),
        "wrong_high": sum(not ok for ok in high),
        "at_high": len(high),
        "accuracy_at_high": round(sum(high) / len(high), 4) if high else None,
        "wrong_high_share": round(sum(not ok for ok in high) / len(conf), 4) if conf else None,
    }


def ece_gain_interval(
    images: Sequence[str],
    right: Sequence[bool],
    given: Sequence[float],
    calibrated: Sequence[float],
    draws: int = 400,
    seed: int = 0,
) -> tuple[float, float]:
    """A 90% interval of ECE(given) - ECE(calibrated), resampling whole images (values of one image move together)."""
    by_image: dict[str, list[int]] = {}
    for i, img in enumerate(images):
        by_image.setdefault(img, []).append(i)
    groups = list(by_image.values())
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(draws):
        idx = [i for g in rng.integers(0, len(groups), len(groups)) for i in groups[g]]
        ok = [right[i] for i in idx]
        gains.append(
            expected_calibration_error([given[i] for i in idx], ok)
            - expected_calibration_error([calibrated[i] for i in idx], ok)
        )
    lo, hi = np.percentile(gains, [5, 95])
    return round(float(lo), 4), round(float(hi), 4)


def report(records: Sequence[Record]) -> dict[str, Any]:
    """Given vs calibrated (leave one image out; leave one repository out), per source; counts and rates only."""
    loio = cross_validated(records, lambda r: f"{r.source}/{r.image}")
    loro = cross_validated(records, lambda r: r.repo if r.source == "real" else r.source)
    # fitted on the other sources alone: renders -> real is how the readers' own models were made
    by_other = {s: apply_records(fit_records([r for r in records if r.source != s]), records) for s in SOURCES}
    out: dict[str, Any] = {}
    for source in SOURCES:
        idx = [i for i, r in enumerate(records) if r.source == source]
        if not idx:
            continue
        right = [records[i].right for i in idx]
        given = [records[i].confidence for i in idx]
        cv, cvr = [loio[i] for i in idx], [loro[i] for i in idx]
        out[source] = {
            "images": len({records[i].image for i in idx}),  # the images that gave a labelled value
            "values_given": len(idx),
            "given": measures(given, right),
            "calibrated_leave_one_image_out": measures(cv, right),
            "calibrated_leave_one_repo_out": measures(cvr, right),
            "calibrated_on_the_other_set_only": measures([by_other[source][i] for i in idx], right),
            "ece_gain_90pct_leave_one_image_out": ece_gain_interval([records[i].image for i in idx], right, given, cv),
            "reliability_given": reliability(list(zip(given, right, strict=True))),
            "reliability_calibrated": reliability(list(zip(cv, right, strict=True))),
            "by_family": {
                fam: {
                    "given": measures([given[k] for k in ks], [right[k] for k in ks]),
                    "calibrated": measures([cv[k] for k in ks], [right[k] for k in ks]),
                }
                for fam in sorted({records[i].family for i in idx})
                for ks in [[k for k, i in enumerate(idx) if records[i].family == fam]]
            },
        }
    return out


def improves(rep: Mapping[str, Any], min_gain: float = 0.01) -> tuple[bool, str]:
    """Apply only if cross-validated real ECE drops clearly (by `min_gain` both ways of holding out, and by more
    than resampling the images moves it) and confidently-wrong rises nowhere."""
    real = rep.get("real")
    if real is None:
        return False, "no real set: a calibrator is never applied on synthetic evidence alone"
    reasons = []
    for key in ("calibrated_leave_one_image_out", "calibrated_leave_one_repo_out"):
        gain = real["given"]["ece"] - real[key]["ece"]
        if gain < min_gain:
            reasons.append(f"real ECE {key}: {real['given']['ece']:.3f} -> {real[key]['ece']:.3f}")
    lo, hi = real["ece_gain_90pct_leave_one_image_out"]
    if lo <= 0:
        reasons.append(f"real ECE gain within resampling noise (90% interval {lo:+.3f} to {hi:+.3f})")
    for source, r in rep.items():
        if r["calibrated_leave_one_image_out"]["wrong_high"] > r["given"]["wrong_high"]:
            reasons.append(f"{source} confidently wrong rises")
    return (not reasons), ("; ".join(reasons) or "real ECE drops by cross-validation, confidently wrong does not rise")


# ---------------------------------------------------------------- printing


def _m(name: str, m: Mapping[str, Any]) -> str:
    acc = "-" if m["accuracy_at_high"] is None else f"{m['accuracy_at_high']:.1%}"
    return f"  {name:<36}{m['values']:>6}{m['ece']:>8.3f}{m['wrong_high']:>8}{m['at_high']:>8}{acc:>9}"


def print_report(rep: Mapping[str, Any]) -> None:
    for source, r in rep.items():
        print(f"\n== {source}: {r['values_given']} values given from {r['images']} images")
        print(f"  {'confidences':<36}{'values':>6}{'ECE':>8}{'wr>=0.9':>8}{'>=0.9':>8}{'acc>=0.9':>9}")
        print(_m("given (today)", r["given"]))
        print(_m("calibrated, leave one image out", r["calibrated_leave_one_image_out"]))
        print(_m("calibrated, leave one repo out", r["calibrated_leave_one_repo_out"]))
        print(_m("calibrated, fitted on the other sets", r["calibrated_on_the_other_set_only"]))
        lo, hi = r["ece_gain_90pct_leave_one_image_out"]
        print(f"  ECE gain given -> leave one image out, 90% interval resampling images: {lo:+.3f} to {hi:+.3f}")
        print("  by family (given -> leave one image out): values, ECE, wrong at >= 0.9")
        for fam, f in r["by_family"].items():
            g, c = f["given"], f["calibrated"]
            print(
                f"    {fam:<18}{g['values']:>5}  {g['ece']:.3f} -> {c['ece']:.3f}  {g['wrong_high']:>3} -> {c['wrong_high']}"
            )
        print("  reliability: bin, count / accuracy given, count / accuracy calibrated (leave one image out)")
        for g, c in zip(r["reliability_given"], r["reliability_calibrated"], strict=True):
            if g["count"] or c["count"]:
                ga = "-" if g["accuracy"] is None else f"{g['accuracy']:.2f}"
                ca = "-" if c["accuracy"] is None else f"{c['accuracy']:.2f}"
                print(
                    f"    [{g['low']:.1f}, {g['low'] + 0.1:.1f})  {g['count']:>4} / {ga:>4}   {c['count']:>4} / {ca:>4}"
                )


# ---------------------------------------------------------------- command line


def _synthetic(args: argparse.Namespace) -> tuple[list[ManifestRow], dict[str, dict[str, Any]]]:
    if args.synthetic_dir and (args.synthetic_dir / "results.jsonl").is_file():
        d = args.synthetic_dir
        return read_manifest(d / "manifest.tsv"), load_results(d / "results.jsonl")
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-") as tmp:
        outdir = args.synthetic_dir or Path(tmp)
        rows = write_synthetic_set(outdir, args.synthetic, args.seed, args.workers)
        results = run_real(rows, outdir, args.workers, "synthetic")
        if args.synthetic_dir:
            (outdir / "results.jsonl").write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results.values())
            )
    return rows, results


def _records(args: argparse.Namespace) -> tuple[list[Record], dict[str, int]]:
    """Every labelled value given, real and synthetic, with how many images each set had."""
    records: list[Record] = []
    counts: dict[str, int] = {}
    if args.manifest:
        rows = read_manifest(args.manifest)
        results = load_results(args.real_results) if args.real_results else run_real(rows, args.images, args.workers)
        records += records_of(rows, results, "real")
        counts["real_images"] = len(rows)
    if args.synthetic or args.synthetic_dir:
        rows, results = _synthetic(args)
        records += records_of(rows, results, "synthetic")
        counts["synthetic_images"] = len(rows)
    if args.world:
        pages = _world(args)
        records += world_records(pages, args.world_seed)
        counts["world_certificates"], counts["world_pages"] = args.world, len(pages)
    return records, counts


def _world(args: argparse.Namespace) -> list[dict[str, Any]]:
    """bench gcn's world renders read and scored (the readers' confidences: that bench never calibrates),
    kept in --world-dump and read from it again when it is there."""
    dump = args.world_dump
    if dump and dump.is_file():
        return list(json.loads(dump.read_text(encoding="utf-8")))
    results = gcn.run(gcn._world_cases(args.world, args.world_seed, gcn.FORMS, None), args.workers, False)
    if dump:
        dump.write_text(json.dumps(results, default=str), encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, help="the real labelled set (truth hashed), e.g. ../shared/real/dev.tsv")
    ap.add_argument("--images", type=Path, help="folder holding the manifest's images")
    ap.add_argument(
        "--real-results",
        type=Path,
        help="saved output of the real set (bench real --raw-confidence --save-results: the readers' own confidences)",
    )
    ap.add_argument("--synthetic", type=int, default=0, metavar="N", help="render and read N synthetic documents")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--synthetic-dir", type=Path, help="keep the synthetic set here (images, manifest, results); reused if read"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--world", type=int, default=0, metavar="N", help="also read N world certificates (bench gcn)")
    ap.add_argument("--world-seed", type=int, default=1023, help="their seed: a fit seed, never 5, 23 or 41")
    ap.add_argument(
        "--world-dump", type=Path, help="keep the world results here (bench gcn --dump format); reused if there"
    )
    ap.add_argument(
        "--write-model", action="store_true", help=f"store the calibrator if it improves ({CALIBRATION_PATH.name})"
    )
    ap.add_argument("--json", type=Path, help="write the report (counts and rates only) as JSON")
    args = ap.parse_args(argv)
    if args.manifest and not (args.images or args.real_results):
        ap.error("--manifest needs --images DIR or --real-results FILE")
    if not args.manifest and not (args.synthetic or args.synthetic_dir or args.world):
        ap.error("give --manifest, --synthetic N / --synthetic-dir, --world N, or several")
    if args.world and args.world_seed in EVALUATION_SEEDS:
        ap.error(f"--world-seed {args.world_seed} is an evaluation seed of bench gcn: fit on another")

    raw_before = os.environ.get(RAW_CONFIDENCE_ENV)
    os.environ[RAW_CONFIDENCE_ENV] = "1"  # fit on the readers' confidences, not on the stored calibrator's
    try:
        records, counts = _records(args)
    finally:
        if raw_before is None:
            os.environ.pop(RAW_CONFIDENCE_ENV)
        else:
            os.environ[RAW_CONFIDENCE_ENV] = raw_before
    rep = report(records)
    print_report(rep)
    ok, why = improves(rep)
    print(f"\ncalibrator {'improves' if ok else 'kept out'}: {why}")
    if args.json:
        args.json.write_text(json.dumps({"report": rep, "applied": ok, "why": why}, indent=1))
    if args.write_model and ok:
        cal = fit_records(records)
        provenance = {
            "fitted": dt.date.today().isoformat(),
            "command": "python -m bench calibrate " + " ".join(sys.argv[2:] if argv is None else argv),
            **counts,
            "values": {s: sum(r.source == s for r in records) for s in SOURCES},
            "real_ece_given": rep["real"]["given"]["ece"],
            "real_ece_leave_one_image_out": rep["real"]["calibrated_leave_one_image_out"]["ece"],
            "real_ece_leave_one_repo_out": rep["real"]["calibrated_leave_one_repo_out"]["ece"],
            **{
                f"world_ece_{k}": rep["world"][key]["ece"]
                for k, key in (("given", "given"), ("leave_one_image_out", "calibrated_leave_one_image_out"))
                if "world" in rep
            },
        }
        CALIBRATION_PATH.write_text(Calibrator(cal.weights, provenance).to_json(), encoding="utf-8")
        print(f"stored {CALIBRATION_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
