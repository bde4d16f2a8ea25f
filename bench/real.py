"""Real-set benchmark: the pipeline over labelled images whose truth is kept only as salted hashes, per field,
split by card design and capture, with calibration; optionally a synthetic set scored the same way beside it.

    python -m bench real --manifest ../shared/real/dev.tsv --images /tmp/realdev        # the real dev set
    python -m bench real --manifest ... --images ... --synthetic 120 --seed 7           # real and synthetic side by side
    python -m bench real --synthetic 120 --seed 7 [--keep-synthetic DIR]                # synthetic only
    python -m bench real --manifest ... --results realdev.jsonl                         # score saved results, no pipeline

Each image is its own submission and goes through the pipeline exactly as `intake process --json --no-match`
reads it (load, normalise, read, cross-check), in worker processes (one Tesseract thread each; each worker
reads one synthetic card first, off the clock). CPU seconds per image are the worker's user+system time for
that image. The synthetic set is rendered by fixtures/ (card generations and certificate pages in about the
real dev set's proportions, the generator's degradation profiles as the capture), written as JPEG with a
manifest in the real set's format, and scored by the same code: the two columns differ only in their images.

Output is counts, rates and field names only: real images and the values read from them never reach the
terminal, the JSON report or a log. `--save-results FILE` writes the pipeline's output (values included) to a
file you name, for `--results` later; keep it outside the repository.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.gcn import _render
from bench.idcards import render_case
from bench.realset import (
    ManifestRow,
    Tally,
    hash_truth,
    load_results,
    read_manifest,
    score_all,
    summarise,
    write_manifest,
)
from fixtures.samples import DEGRADE_WEIGHTS
from worker.extract.calibration import RAW_CONFIDENCE_ENV
from worker.pipeline import process_submission

# the fields the real dev set labels, per document type; a synthetic set is scored on the same ones
SCORED_FIELDS: dict[str, tuple[str, ...]] = {
    "cccd_front": ("id_number", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin",
                   "place_of_residence", "date_of_expiry"),
    "cccd_back": ("id_number", "date_of_birth", "sex", "date_of_expiry", "issue_date"),
    "cmnd_front": ("id_number", "full_name", "date_of_birth", "place_of_origin", "place_of_residence"),
    "cmnd_back": ("issue_date",),
    "gcn_page1": ("certificate_serial",),
    "gcn_page2": ("parcel_number", "map_sheet_number", "area_m2", "parcel_address", "land_use_purpose",
                  "land_use_term", "land_use_origin", "registry_number", "issue_date"),
    "gcn_other": (),
}  # fmt: skip
OWNER_FIELDS = ("full_name", "birth_year", "id_number")
# the generator's card generations and certificate forms under the real manifest's design names
DESIGNS = {
    "cmnd_9": "cmnd9", "cmnd_12": "cmnd12", "cccd_barcode_2016": "cccd2016", "cccd_chip_2021": "cccd2021",
    "cancuoc_2024": "cancuoc2024", "gcn_2009": "gcn", "gcn_pre2009": "gcn2003", "gcn_2024_qr": "gcn2024",
}  # fmt: skip
# one cycle of synthetic documents, in about the real dev set's proportions (24 chip fronts, 7 backs, 5 barcode
# fronts, 2 Căn cước fronts, 9 CMND fronts, 11 certificate pages): (kind, generation or form, side or page)
SYNTHETIC_CYCLE: tuple[tuple[str, str, str | int], ...] = (
    ("card", "cccd_chip_2021", "front"), ("card", "cmnd_9", "front"), ("gcn", "gcn_2009", 2),
    ("card", "cccd_chip_2021", "front"), ("card", "cccd_chip_2021", "back"), ("card", "cccd_barcode_2016", "front"),
    ("card", "cccd_chip_2021", "front"), ("gcn", "gcn_2009", 3), ("card", "cancuoc_2024", "front"),
    ("card", "cccd_chip_2021", "front"), ("card", "cmnd_9", "front"), ("gcn", "gcn_2009", 1),
)  # fmt: skip
CAPTURES = {"photo": "phone_photo"}  # the generator's profile names where the real manifest has its own word


# ---------------------------------------------------------------- running the pipeline


def _warm_up() -> None:
    """Pay lazy imports and model loads before the clock starts (a long-running worker pays them once)."""
    data, _ = _render_synthetic(_synthetic_cases(1, 99991)[0])
    _read(data, "warm-up.jpg", "warm-up")


def _read(data: bytes, name: str, submission_id: str) -> dict[str, Any]:
    before = os.times()
    result = process_submission(submission_id, [(name, data)])
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])  # user + system, this process and its waited-for children
    out: dict[str, Any] = result.model_dump(mode="json")
    out["cpu_seconds"] = round(cpu, 4)
    return out


def _read_path(path: str) -> dict[str, Any]:
    p = Path(path)
    return _read(p.read_bytes(), str(p), p.stem)


def _pool_map(fn: Any, items: Sequence[Any], workers: int, label: str) -> list[dict[str, Any]]:
    started = time.perf_counter()
    out: list[dict[str, Any]] = []
    if workers <= 1:
        _warm_up()
        mapped: Any = map(fn, items)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, initializer=_warm_up)
        mapped = pool.map(fn, items)
    try:
        for i, result in enumerate(mapped, start=1):
            out.append(result)
            print(f"\r{label}: {i}/{len(items)} images", end="", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    print(f"\r{label}: {len(items)} images read in {time.perf_counter() - started:.0f} s wall", file=sys.stderr)
    return out


def run_real(rows: list[ManifestRow], images: Path, workers: int, label: str = "real") -> dict[str, dict[str, Any]]:
    present = [r for r in rows if (images / r.file).is_file()]
    missing = len(rows) - len(present)
    if missing:
        print(f"warning: {missing} of {len(rows)} manifest images are not in {images}; they count as unread",
              file=sys.stderr)  # fmt: skip
    results = _pool_map(_read_path, [str(images / r.file) for r in present], workers, label)
    return {r["submission_id"]: r for r in results}


# ---------------------------------------------------------------- the synthetic set


def _synthetic_cases(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        kind, design, side = SYNTHETIC_CYCLE[i % len(SYNTHETIC_CYCLE)]
        weights = DEGRADE_WEIGHTS["card" if kind == "card" else "page"]
        profile = rng.choices(list(weights), weights=list(weights.values()))[0]
        case: dict[str, Any] = {"index": i, "kind": kind, "seed": rng.randrange(1 << 30), "profile": profile}
        if kind == "card":
            case.update(generation=design, side=side)
        else:
            case.update(form=design, page=side, cert=i)
        case["file"] = f"syn_{seed}_{i:04d}_{design}_{side}_{profile}.jpg"
        cases.append(case)
    return cases


def _render_synthetic(case: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """One synthetic image (JPEG bytes, as a scanner or phone writes it) and its generator truth."""
    if case["kind"] == "card":
        image, _, truth = render_case(case)
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="JPEG", quality=90)
        return buf.getvalue(), truth
    data, truth, _ = _render(case)
    return data, truth


def synthetic_row(case: dict[str, Any], truth: dict[str, Any], seed: int) -> ManifestRow:
    doc_type = truth["doc_type"]
    wanted = SCORED_FIELDS.get(doc_type, ())
    fields = {k: v for k, v in truth["fields"].items() if k in wanted}
    owners = [{k: o.get(k) for k in OWNER_FIELDS} for o in truth.get("owners") or []] if doc_type == "gcn_page1" else []
    design = DESIGNS[case.get("generation") or case["form"]]
    where = f"{case['kind']}/{case.get('generation') or case['form']}/{case.get('side') or case['page']}"
    return ManifestRow(case["file"], "synthetic", str(seed), where, doc_type, design,
                       CAPTURES.get(case["profile"], case["profile"]), hash_truth(fields, owners))  # fmt: skip


def _write_one(args: tuple[dict[str, Any], str, int]) -> ManifestRow:
    case, outdir, seed = args
    data, truth = _render_synthetic(case)
    (Path(outdir) / case["file"]).write_bytes(data)
    return synthetic_row(case, truth, seed)


def write_synthetic_set(outdir: Path, n: int, seed: int, workers: int) -> list[ManifestRow]:
    """Render n synthetic documents into outdir with a manifest.tsv in the real set's format (truth hashed)."""
    outdir.mkdir(parents=True, exist_ok=True)
    jobs = [(c, str(outdir), seed) for c in _synthetic_cases(n, seed)]
    if workers <= 1:
        rows = [_write_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_write_one, jobs, chunksize=4))
    write_manifest(outdir / "manifest.tsv", rows)
    return rows


# ---------------------------------------------------------------- printing


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.1%}"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def _tally_line(name: str, t: dict[str, Any], width: int = 22) -> str:
    return (f"{name:<{width}}{t['n']:>5}{_pct(t['accuracy']):>8}{t['wrong']:>7}{t['missing']:>8}{t['wrong_high']:>11}"
            f"{_num(t['ece']):>7}")  # fmt: skip


def print_report(name: str, s: dict[str, Any]) -> None:
    a = s["all_fields"]
    cpu = s["cpu_seconds_per_image"]
    print(f"\n== {name}: {s['documents']} images, doc_type right {s['doc_type_right']} ({_pct(s['doc_type_accuracy'])})"
          + (f", CPU {cpu['mean']:.2f} s/image mean, {cpu['median']:.2f} median" if cpu["mean"] is not None else ""))  # fmt: skip
    header = f"{'':<22}{'n':>5}{'right':>8}{'wrong':>7}{'missing':>8}{'wrong>=0.9':>11}{'ECE':>7}"
    print(f"\n{'field':<22}{header[22:]}")
    for field_name, t in s["fields"].items():
        print(_tally_line(field_name, t))
    print(_tally_line("all fields", a))
    share = s["wrong_high_share_of_given"]
    print(f"{a['wrong_high']} confidently wrong of {s['values_given']} values given ({_pct(share)})")
    for title, key in (("design", "by_design"), ("capture", "by_capture")):
        print(f"\nby {title}{'':<{21 - len(title)}}{header[22:]}{'docs':>6}{'doc_type':>9}")
        for group, g in s[key].items():
            print(f"{_tally_line(group, g)}{g['documents']:>6}{_pct(g['doc_type_accuracy']):>9}")
    print("\nreliability (every value given): confidence bin, count, mean confidence, accuracy")
    for b in s["reliability"]:
        if b["count"]:
            print(
                f"  [{b['low']:.1f}, {b['high']:.1f})  {b['count']:>5}  {b['mean_confidence']:.3f}  {b['accuracy']:.3f}"
            )


def print_side_by_side(real: dict[str, Any], synthetic: dict[str, Any]) -> None:
    """Per field: right and confidently wrong on each set (the README's table)."""
    print("\n== real vs synthetic, per field (right %, n; wrong at >= 0.9)")
    print(f"{'field':<22}{'real':>16}{'':>6}{'synthetic':>16}{'':>6}")
    names = sorted(set(real["fields"]) | set(synthetic["fields"]))
    empty = Tally().as_dict()
    for name in [*names, "all fields"]:
        r = real["all_fields"] if name == "all fields" else real["fields"].get(name, empty)
        y = synthetic["all_fields"] if name == "all fields" else synthetic["fields"].get(name, empty)
        print(f"{name:<22}{_pct(r['accuracy']):>9} ({r['n']:>3}){r['wrong_high']:>6}"
              f"{_pct(y['accuracy']):>9} ({y['n']:>3}){y['wrong_high']:>6}")  # fmt: skip
    print(f"{'ECE':<22}{_num(real['all_fields']['ece']):>15}{'':>6}{_num(synthetic['all_fields']['ece']):>15}")
    print(f"{'doc type':<22}{_pct(real['doc_type_accuracy']):>15}{'':>6}{_pct(synthetic['doc_type_accuracy']):>15}")
    rc, sc = real["cpu_seconds_per_image"]["mean"], synthetic["cpu_seconds_per_image"]["mean"]
    print(f"{'CPU s/image (mean)':<22}{_num(rc, 2):>15}{'':>6}{_num(sc, 2):>15}")


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench real", description=__doc__.split("\n\n")[0],
        epilog="Manifest format: see ../shared/real/README.md (truth as salted hashes; realset.py hash FIELD VALUE).",
    )  # fmt: skip
    ap.add_argument(
        "--manifest", type=Path, help="labelled set (tab-separated, truth hashed), e.g. ../shared/real/dev.tsv"
    )
    ap.add_argument("--images", type=Path, help="folder holding the manifest's images (file column)")
    ap.add_argument(
        "--results", type=Path, help="score this saved output (intake process --json lines) instead of reading"
    )
    ap.add_argument(
        "--save-results", type=Path, help="write the pipeline's output here (values included: keep it private)"
    )
    ap.add_argument("--synthetic", type=int, default=0, metavar="N", help="also render and score N synthetic documents")
    ap.add_argument("--seed", type=int, default=7, help="seed of the synthetic set")
    ap.add_argument("--keep-synthetic", type=Path, metavar="DIR", help="write the synthetic images and manifest here")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the report (counts and rates only) as JSON")
    ap.add_argument(
        "--raw-confidence",
        action="store_true",
        help="the readers' own confidences, without the stored calibrator (what bench calibrate fits on)",
    )
    args = ap.parse_args(argv)
    if args.raw_confidence:
        os.environ[RAW_CONFIDENCE_ENV] = "1"
    if not args.manifest and not args.synthetic:
        ap.error("give --manifest (with --images or --results), --synthetic N, or both")
    if args.manifest and not (args.images or args.results):
        ap.error("--manifest needs --images DIR (read the images) or --results FILE (score saved output)")
    if args.manifest and not args.manifest.is_file():
        print(f"manifest not found: {args.manifest}", file=sys.stderr)
        return 3
    if args.images and not args.images.is_dir():
        print(f"images folder not found: {args.images}", file=sys.stderr)
        return 3

    reports: dict[str, Any] = {}
    if args.manifest:
        rows = read_manifest(args.manifest)
        results = load_results(args.results) if args.results else run_real(rows, args.images, args.workers)
        if args.save_results:
            args.save_results.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results.values()))
        reports["real"] = summarise(score_all(rows, results))
        print_report(f"real ({args.manifest.name})", reports["real"])
    if args.synthetic:
        with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
            outdir = args.keep_synthetic or Path(tmp)
            rows = write_synthetic_set(outdir, args.synthetic, args.seed, args.workers)
            results = run_real(rows, outdir, args.workers, "synthetic")
        reports["synthetic"] = summarise(score_all(rows, results))
        print_report(f"synthetic (seed {args.seed})", reports["synthetic"])
    if "real" in reports and "synthetic" in reports:
        print_side_by_side(reports["real"], reports["synthetic"])
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
