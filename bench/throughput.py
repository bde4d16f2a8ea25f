"""`python -m bench throughput`: what a page costs, side by side on the same generated pages.

(a) naive     `tesseract PAGE - -l vie` per page, as a user would write it (default threading, and with
              OMP_THREAD_LIMIT=1, the fair single-core figure); PDFs are rasterised for it beforehand, free
(b) pipeline  our full pipeline (load, normalise, OCR, extract, validate, cross-check, match), 1 process
(c) pipeline  the same with 2 worker processes

(a) and (b) take turns submission by submission (`--separate`: one after the other), so that on a shared
machine both see the same load and their core-seconds ratio stays fair.

Printed: core-seconds per page (getrusage user+sys of self and waited-for children, so Tesseract
subprocesses count), pages per second, peak RSS per worker, the ratios against the targets, a cProfile
summary (top functions by cumulative time, the share inside Tesseract), the per-call cost of the two
Tesseract bindings on card-sized crops, the matching share of the per-page cost and the projection for
a million pages.

Workers are spawned processes that build the matcher once in their initializer, exactly like
`intake backfill --workers N`; their start-up cost is measured and reported separately from the per-page
cost (it is paid once per process, not per page).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import pytesseract
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import text

from bench.throughput_report import Profile, RunStats, print_report
from bench.throughput_worker import cpu_seconds, init_worker, noop, task
from fixtures.samples import generate
from models.settings import Settings
from worker.intake import backfill as bf
from worker.ocr import TesseractReader, backend
from worker.pipeline import PIPELINE_VERSION
from worker.store.migrate import open_database
from worker.store.registry import import_csv
from worker.wiring import backfill_processor, make_proposer

RASTER = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})
READABLE = RASTER | {".pdf"}


# ------------------------------------------------------------------------------------------- pages


def page_count(path: Path) -> int:
    if path.suffix.lower() == ".pdf":
        return len(PdfReader(path).pages)
    with Image.open(path) as img:
        return int(getattr(img, "n_frames", 1))


def prepare_pages(args: argparse.Namespace, workdir: Path) -> tuple[list[tuple[str, list[Path]]], Path | None, int]:
    """Submissions as (id, original files), the registry export, and the number of pages. Every run reads
    the same files: the pipeline as it would in production (PDFs rendered by the imaging stage), the naive
    baseline as a user would script it (pdftoppm for a PDF, then tesseract per page; both counted)."""
    if args.pages_dir:
        root = Path(args.pages_dir)
        parcels = root / "parcels.csv" if (root / "parcels.csv").is_file() else None
        subs_root = root / "submissions" if (root / "submissions").is_dir() else root
    else:
        root = workdir / "samples"
        print(f"generating {args.submissions} submissions (seed {args.seed}) ...", file=sys.stderr)
        generate(root, args.submissions, args.seed, decoy_parcels=args.registry_size or None)
        parcels = root / "parcels.csv"
        subs_root = root / "submissions"
    total = 0
    submissions: list[tuple[str, list[Path]]] = []
    folders = sorted(p for p in subs_root.iterdir() if p.is_dir())
    # A flat folder of images (photos and scans nobody here drew) is read one file per submission.
    groups = [
        (sub.name, sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in READABLE)) for sub in folders
    ]
    if not folders:
        groups = [(f.stem, [f]) for f in sorted(subs_root.iterdir()) if f.is_file() and f.suffix.lower() in READABLE]
    for name, files in groups:
        if args.max_pages and total >= args.max_pages:
            break
        if files:
            submissions.append((name, files))
            total += sum(page_count(f) for f in files)
    return submissions, parcels, total


def warm_up_files(workdir: Path, seed: int) -> tuple[str, ...]:
    """Two generated submissions with another seed (cards, certificate pages, a PDF): what every pipeline
    process reads once at start-up, so the measured pages carry only their own cost."""
    root = workdir / "warm-up"
    generate(root, 2, seed + 1000, decoy_parcels=0)
    files = sorted(p for p in (root / "submissions").rglob("*") if p.is_file() and p.suffix.lower() in READABLE)
    return tuple(str(p) for p in files)


# ---------------------------------------------------------------------------------- (a) naive tesseract


class NaiveRunner:
    """`tesseract PAGE - -l LANG` per page, each call's CPU from wait4 (the child's own rusage)."""

    def __init__(self, *, single_thread: bool, lang: str, pdf_dpi: int, workdir: Path) -> None:
        self.env = dict(os.environ)
        if single_thread:
            self.env["OMP_THREAD_LIMIT"] = "1"
        else:
            self.env.pop("OMP_THREAD_LIMIT", None)
        self.lang, self.pdf_dpi, self.workdir = lang, pdf_dpi, workdir
        self.has_time = Path("/usr/bin/time").is_file()
        self.rss_file = workdir / f"naive-{single_thread}.rss"
        self.peak = 0.0
        self.stats = RunStats("(a) tesseract CLI" + (", 1 thread" if single_thread else ", default threads"))

    def pages_of(self, files: list[Path]) -> list[Path]:
        """What the naive user feeds tesseract. PDFs are rasterised here, off the clock (at the pipeline's
        dpi): the baseline is the tesseract call alone, while the pipeline pays for its own PDF loading, so
        the comparison can only flatter the baseline."""
        pages: list[Path] = []
        for f in files:
            if f.suffix.lower() == ".pdf":
                out = self.workdir / "naive-pdf" / f"{abs(hash(str(f)))}"
                if not out.is_dir():
                    out.mkdir(parents=True)
                    subprocess.run(["pdftoppm", "-r", str(self.pdf_dpi), "-png", str(f), str(out / "p")], check=True)
                pages.extend(sorted(out.glob("p*.png")))
            else:
                pages.append(f)  # tesseract reads every frame of a multi-page TIFF itself
        return pages

    def run_page(self, page: Path) -> float:
        """One tesseract call; returns its core-seconds (also added to the stats)."""
        # under /usr/bin/time: a child of this (possibly large) process inherits its peak RSS across
        # fork+exec, a grandchild started by `time` does not, so `time` reports the tool's own peak
        timed = ["/usr/bin/time", "-f", "%M", "-o", str(self.rss_file)] if self.has_time else []
        cmd = [*timed, "tesseract", str(page), "-", "-l", self.lang]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        assert proc.stdout is not None
        proc.stdout.read()
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        core = usage.ru_utime + usage.ru_stime
        self.stats.core_s += core
        if self.has_time:
            self.peak = max(self.peak, int(self.rss_file.read_text().split()[-1]) / 1024)
            self.stats.peak_rss_mb = [self.peak]
        return core


def run_naive(files: list[Path], *, single_thread: bool, lang: str, pdf_dpi: int, workdir: Path) -> RunStats:
    runner = NaiveRunner(single_thread=single_thread, lang=lang, pdf_dpi=pdf_dpi, workdir=workdir)
    pages = runner.pages_of(files)
    started = time.perf_counter()
    for page in pages:
        runner.run_page(page)
    runner.stats.wall_s = time.perf_counter() - started
    runner.stats.pages = sum(page_count(f) for f in files)
    return runner.stats


# -------------------------------------------------------------------------------------- (b)/(c) pipeline

_WARM_FILES: tuple[str, ...] = ()  # the warm-up submission every pipeline process reads at start-up


def run_pipeline(
    submissions: list[tuple[str, list[Path]]], *, workers: int, database_url: str | None, match: bool, pages: int
) -> RunStats:
    stats = RunStats(f"({'b' if workers == 1 else 'c'}) pipeline, {workers} worker{'s' if workers > 1 else ''}")
    stats.workers = workers
    ctx = multiprocessing.get_context("spawn")
    per_worker: dict[int, dict[str, Any]] = {}
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=init_worker, initargs=(database_url, match, _WARM_FILES)
    )
    # start-up happens before the clock: run one trivial task per worker so each has initialised
    list(pool.map(noop, range(workers * 4)))
    started = time.perf_counter()
    # largest submissions first (with 6 submissions, one big one handed out last would leave the other
    # worker idle at the end: a tail a million-page backfill does not have)
    order = sorted(submissions, key=lambda sub: -sum(page_count(f) for f in sub[1])) if workers > 1 else submissions
    futures = [pool.submit(task, sub_id, [str(f) for f in files]) for sub_id, files in order]
    for fut in futures:
        r = fut.result()
        stats.documents += r["documents"]
        stats.errors += r["errors"]
        stats.match_cpu_s += r["match_cpu_s"]
        stats.match_calls += 1
        stats.files += r["files"]
        per_worker[r["pid"]] = r
    stats.wall_s = time.perf_counter() - started
    stats.pages = pages  # every run is charged for the same pages, whatever it managed to read
    pool.shutdown(wait=True)
    # each worker's CPU after start-up, from its own last report (a worker's CPU cannot leak into another's)
    for r in per_worker.values():
        stats.core_s += r["cpu"] - r["startup_cpu"]
        stats.startup_core_s += r["startup_cpu"]
        stats.peak_rss_mb.append(r["rss_mb"])
        stats.warm_rss_mb.append(r["warm_rss_mb"])
    return stats


def run_interleaved(
    submissions: list[tuple[str, list[Path]]],
    *,
    database_url: str | None,
    match: bool,
    pages: int,
    lang: str,
    pdf_dpi: int,
    workdir: Path,
) -> tuple[RunStats, RunStats]:
    """(a) and (b) taking turns, submission by submission, on one core each at a time: on a machine shared
    with other work, the load then changes under both alike, and the core-seconds ratio stays fair
    (two separate runs minutes apart can differ by 20-30% in CPU per unit of work on a busy machine)."""
    naive = NaiveRunner(single_thread=True, lang=lang, pdf_dpi=pdf_dpi, workdir=workdir)
    one = RunStats("(b) pipeline, 1 worker")
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=init_worker, initargs=(database_url, match, _WARM_FILES))
    list(pool.map(noop, range(2)))
    last: dict[str, Any] | None = None
    naive_pages = {sub_id: naive.pages_of(files) for sub_id, files in submissions}
    for sub_id, files in submissions:
        started = time.perf_counter()
        for page in naive_pages[sub_id]:
            naive.run_page(page)
        naive.stats.wall_s += time.perf_counter() - started
        started = time.perf_counter()
        r = pool.submit(task, sub_id, [str(f) for f in files]).result()
        one.wall_s += time.perf_counter() - started
        one.documents += r["documents"]
        one.errors += r["errors"]
        one.match_cpu_s += r["match_cpu_s"]
        one.match_calls += 1
        one.files += r["files"]
        one.core_s += r["cpu"] - (last["cpu"] if last else r["startup_cpu"])
        last = r
    pool.shutdown(wait=True)
    naive.stats.pages = one.pages = pages
    if last:
        one.startup_core_s = last["startup_cpu"]
        one.peak_rss_mb = [last["rss_mb"]]
        one.warm_rss_mb = [last["warm_rss_mb"]]
    naive.stats.name += " (interleaved)"
    one.name += " (interleaved)"
    return naive.stats, one


def run_backfill(samples: Path, *, workers: int, database_url: str, data_dir: Path) -> RunStats:
    """(d) the production path, `intake backfill DIR --workers N`: the pipeline plus storing documents,
    derived review images and the per-file re-match. CPU here includes worker start-up."""
    settings = Settings(database_url=database_url, data_dir=data_dir)
    source = bf.parse_source(str(samples))
    objects = list(bf.list_objects(source))
    engine = open_database(database_url)
    # forced, as `--reprocess` under a new version: the bench can run again on the same database
    run_version = f"{PIPELINE_VERSION}+bench{int(time.time())}"
    todo, _ = bf.plan(objects, engine, pipeline_version=run_version, reprocess=True, root=source.path)
    engine.dispose()
    stats = RunStats(f"(d) intake backfill, {workers} worker{'s' if workers > 1 else ''} (+store)")
    stats.workers = workers
    outcomes: list[Any] = []
    build = partial(backfill_processor, settings.model_dump_json(), root=str(source.path), bucket="", prefix="")
    init = partial(
        bf.init_worker,
        build,
        root=str(source.path),
        job_id="bench",
        pipeline_version=run_version,
        reprocess=True,
    )
    before, started = cpu_seconds(), time.perf_counter()
    bf.run_local(
        bf.group_submissions(todo), workers=workers, init=init, stop=threading.Event(), on_outcome=outcomes.append
    )
    stats.wall_s = time.perf_counter() - started
    stats.core_s = cpu_seconds() - before
    stats.pages = sum(o.pages for o in outcomes)
    stats.errors = sum(1 for o in outcomes if o.status == "failed")
    peaks: dict[int, float] = {}
    for o in outcomes:
        peaks[o.worker] = max(peaks.get(o.worker, 0.0), o.max_rss_mb)
    stats.peak_rss_mb = list(peaks.values())
    return stats


# ------------------------------------------------------------------------------------------- profile

_STAGES = (
    ("worker/imaging/", "imaging (load, normalise)"),
    ("worker/ocr/", "ocr (our wrappers + Tesseract)"),
    ("worker/extract/", "extract (classify, fields, validate)"),
    ("worker/match/", "match"),
    ("worker/store/", "store"),
    ("pytesseract", "pytesseract subprocesses"),
    ("pydantic", "pydantic"),
    ("cv2", "opencv"),
    ("PIL/", "pillow"),
    ("sqlalchemy", "sqlalchemy"),
)


_REPO = str(Path(__file__).resolve().parents[1]) + "/"


def profile_pipeline(submissions: list[tuple[str, list[Path]]], *, database_url: str | None, match: bool) -> Profile:
    """cProfile one process over the pages (after start-up). tesserocr is a Cython extension without
    profiling hooks, so time inside the engine shows up as the self time of the wrappers in
    worker/ocr/tesseract.py that call it; pytesseract's is the wait on its subprocess."""
    init_worker(database_url, match, _WARM_FILES)
    prof = cProfile.Profile(time.process_time)  # CPU, not wall: a shared machine's waits are not ours
    started = time.process_time()
    prof.enable()
    for sub_id, files in submissions:
        task(sub_id, [str(f) for f in files])
    prof.disable()
    total = time.process_time() - started
    st = pstats.Stats(prof, stream=io.StringIO())
    stage_time: dict[str, float] = {}
    tesseract = 0.0
    rows = []
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in st.stats.items():  # type: ignore[attr-defined]
        label = next((lbl for key, lbl in _STAGES if key in filename), "other (python, numpy, stdlib)")
        stage_time[label] = stage_time.get(label, 0.0) + tottime
        if filename.endswith("worker/ocr/tesseract.py"):
            tesseract += tottime
        elif "pytesseract" in filename and name == "run_tesseract":
            tesseract += cumtime
        short = filename.split(_REPO)[-1].split("site-packages/")[-1]
        rows.append((f"{short}:{line}({name})", ncalls, tottime, cumtime))
    by_self = sorted(rows, key=lambda r: r[2], reverse=True)[:12]
    rows.sort(key=lambda r: r[3], reverse=True)
    ours = [r for r in rows if r[0].startswith(("worker/", "bench/", "models/"))]
    return Profile(total, tesseract, sorted(stage_time.items(), key=lambda kv: -kv[1]), ours[:20], by_self)


# ------------------------------------------------------------------------- tesserocr vs pytesseract


def engine_per_call(pages: list[Path], *, lang: str, crops: int) -> list[tuple[str, int, float, float]]:
    """Core-seconds per call of the two bindings on the same card-sized and line-sized crops."""
    cards: list[Any] = []
    lines: list[Any] = []
    for page in pages:
        img = cv2.imread(str(page), cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        h, w = img.shape
        # card-sized: a 1011x638 (ID-1 at 300 dpi) window from the page's top left text area
        cards.append(img[: min(h, 638), : min(w, 1011)])
        if len(cards) >= crops:
            break
    reader = TesseractReader(lang)
    if backend() == "tesserocr":
        for card in cards:
            for line in reader.read(card, psm=6).lines[:4]:
                x, y, bw, bh = line.box
                if bw > 40 and bh > 8:
                    lines.append(card[max(0, y - 4) : y + bh + 4, max(0, x - 4) : x + bw + 4])
    out: list[tuple[str, int, float, float]] = []
    for label, items, psm in (("card crop (psm 6)", cards, 6), ("line crop (psm 7)", lines[: crops * 2], 7)):
        if not items:
            continue
        timings = []
        for impl in ("pytesseract", "tesserocr"):
            if impl == "tesserocr" and backend() != "tesserocr":
                timings.append(float("nan"))
                continue
            before = cpu_seconds()
            for item in items:
                if impl == "pytesseract":
                    pytesseract.image_to_data(item, lang=lang, config=f"--psm {psm}")
                else:
                    reader.read(item, psm=psm)
            timings.append((cpu_seconds() - before) / len(items))
        out.append((label, len(items), timings[0], timings[1]))
    return out


# -------------------------------------------------------------------------------------------- registry


def ensure_registry(database_url: str, parcels_csv: Path | None) -> int:
    """Load the samples' registry export (its size is set by --registry-size at generation) unless the
    database already holds a registry; returns the number of parcels (0 when matching is not possible)."""
    engine = open_database(database_url)
    with engine.connect() as conn:
        size = int(conn.execute(text("SELECT count(*) FROM registry_parcels")).scalar_one())
    if size == 0 and parcels_csv is not None:
        started = time.perf_counter()
        report = import_csv(parcels_csv, engine)
        print(f"registry imported in {time.perf_counter() - started:.0f} s: {report}"[:300], file=sys.stderr)
        with engine.connect() as conn:
            size = int(conn.execute(text("SELECT count(*) FROM registry_parcels")).scalar_one())
    engine.dispose()
    probe = make_proposer(Settings(database_url=database_url), open_database(database_url))
    if probe is None:
        print(f"matching skipped: no matcher (worker.match.Matcher) for the {size}-parcel registry", file=sys.stderr)
        return 0
    return size


def main(argv: list[str] | None = None) -> int:
    return 0 if measure(argv) else 1


def _first_files(submissions: list[tuple[str, list[Path]]], n: int) -> list[tuple[str, list[Path]]]:
    """The first submissions, up to the one that brings their files to `n` (or more)."""
    subset: list[tuple[str, list[Path]]] = []
    for sub in submissions:
        if sum(len(f) for _, f in subset) >= n:
            break
        subset.append(sub)
    return subset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=6, help="generated submissions (default 6)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--pages-dir",
        help="use existing pages instead of generating: OUTDIR of `intake samples`, or a flat folder of images (one submission each)",
    )
    parser.add_argument("--max-pages", type=int, default=0, help="stop adding submissions past this many pages")
    parser.add_argument("--lang", default="vie")
    parser.add_argument("--database-url", help="where the registry is (default: a SQLite file in a temp dir)")
    parser.add_argument(
        "--registry-size", type=int, default=0, help="background parcels in the generated registry (e.g. 1200000)"
    )
    parser.add_argument("--no-match", action="store_true", help="skip matching")
    parser.add_argument(
        "--backfill-workers", type=int, default=0, help="also run `intake backfill` with N workers (+store); 0: skip"
    )
    parser.add_argument("--no-naive-threads", action="store_true", help="skip the default-threads naive run")
    parser.add_argument(
        "--separate",
        action="store_true",
        help="run (a) and (b) one after the other instead of interleaved submission by submission",
    )
    parser.add_argument("--profile-pages", type=int, default=6, help="pages to run under cProfile (0: none)")
    parser.add_argument("--engine-crops", type=int, default=6, help="crops for the per-call engine comparison")
    parser.add_argument("--cores", default="2,8,32,64", help="core counts for the projection")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--no-warm-up",
        action="store_true",
        help="do not read a warm-up submission at worker start-up (first-document costs then count as page cost)",
    )
    return parser


def measure(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the tables; returns the headline numbers ({} when there was nothing to do)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.pages_dir and args.registry_size:
        parser.error(
            "--registry-size sizes a generated registry; with --pages-dir the registry is that set's parcels.csv "
            "(generate it with `intake samples DIR --decoy-parcels N`) or the one at --database-url"
        )

    workdir = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    try:
        submissions, parcels_csv, n_pages = prepare_pages(args, workdir)
        pages = [p for _, files in submissions for p in files]
        pdf_dpi = Settings().pdf_dpi
        if not pages:
            print("no pages to measure", file=sys.stderr)
            return {}
        database_url = args.database_url or f"sqlite:///{(workdir / 'bench.db').as_posix()}"
        global _WARM_FILES
        _WARM_FILES = () if args.no_warm_up else warm_up_files(workdir, args.seed)
        registry_size = 0 if args.no_match else ensure_registry(database_url, parcels_csv)
        match = registry_size > 0
        print(
            f"{n_pages} pages in {len(pages)} files, {len(submissions)} submissions; registry {registry_size} parcels",
            file=sys.stderr,
        )

        runs: list[RunStats] = []
        if not args.no_naive_threads:
            runs.append(run_naive(pages, single_thread=False, lang=args.lang, pdf_dpi=pdf_dpi, workdir=workdir))
        if args.separate:
            naive = run_naive(pages, single_thread=True, lang=args.lang, pdf_dpi=pdf_dpi, workdir=workdir)
            one = run_pipeline(submissions, workers=1, database_url=database_url, match=match, pages=n_pages)
        else:
            naive, one = run_interleaved(
                submissions,
                database_url=database_url,
                match=match,
                pages=n_pages,
                lang=args.lang,
                pdf_dpi=pdf_dpi,
                workdir=workdir,
            )
        runs += [naive, one]
        two = run_pipeline(submissions, workers=2, database_url=database_url, match=match, pages=n_pages)
        runs.append(two)
        if args.backfill_workers:
            samples_dir = (
                Path(args.pages_dir) / "submissions" if args.pages_dir else workdir / "samples" / "submissions"
            )
            if not samples_dir.is_dir():
                samples_dir = Path(args.pages_dir)
            runs.append(
                run_backfill(
                    samples_dir,
                    workers=args.backfill_workers,
                    database_url=database_url,
                    data_dir=workdir / "data",
                )
            )
        raster = [p for p in pages if p.suffix.lower() in RASTER]
        engines = engine_per_call(raster, lang=args.lang, crops=args.engine_crops) if args.engine_crops else []
        prof = None
        if args.profile_pages:
            prof = profile_pipeline(_first_files(submissions, args.profile_pages), database_url=database_url, match=match)
        cores = [int(c) for c in args.cores.split(",") if c.strip()]
        summary = print_report(runs, naive, one, two, prof, engines, registry_size, cores)
        summary["runs"] = {
            r.name: {"pages": r.pages, "core_s_per_page": r.core_per_page, "pages_per_s": r.pages_per_s} for r in runs
        }
        return summary
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
