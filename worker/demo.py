"""`intake samples` and `intake demo`: synthetic scans, and the whole product run on them and scored.

Both need the synthetic-document generator (`fixtures/`), which is part of the source checkout, not of the
installed wheel (`fixtures` is also an unrelated package on PyPI; a production image has no use for it).
From a checkout (`bash scripts/install.sh`, an editable install) it is found next to the `worker` package;
elsewhere these two commands say how to get it and exit with code 3."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from models.settings import get_settings
from worker.failures import CommandFailure
from worker.pipeline import collect_submissions, process_submission, read_inputs
from worker.progress import progress_bar
from worker.store.registry import import_csv
from worker.wiring import make_proposer, open_engine

console = Console(stderr=True)
CHECKOUT = Path(__file__).resolve().parents[1]


def load_fixtures(module: str) -> ModuleType:
    """``fixtures.<module>``: importable as it is (tests, `python -m bench` from the checkout), else from the
    checkout this package was installed from in editable mode."""
    name = f"fixtures.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in ("fixtures", name):
            raise  # a dependency of the generator is missing: its own error says which
    if (CHECKOUT / "fixtures" / "__init__.py").is_file():
        sys.path.append(str(CHECKOUT))
        return importlib.import_module(name)
    raise CommandFailure(
        "the synthetic-document generator (fixtures/) is not installed: it ships with the source checkout, "
        "not the wheel; clone the repository and run `bash scripts/install.sh`, then `.venv/bin/intake demo`"
    )


@click.command()
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--submissions", "-n", default=12, show_default=True, help="How many submissions to generate")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same documents)")
@click.option("--decoy-parcels", default=None, type=int, help="Background parcels in the registry export")
@click.option("--force", is_flag=True, help="Write into a non-empty OUTDIR, replacing the sample set in it")
def samples(outdir: Path, submissions: int, seed: int, decoy_parcels: int | None, force: bool) -> None:
    """Write synthetic scans (OUTDIR/submissions/*), a registry export (parcels.csv) and ground truth
    (truth.jsonl). Everything is synthetic: no real person's data."""
    generate = load_fixtures("samples").generate
    if outdir.exists() and not outdir.is_dir():
        raise click.BadParameter(f"{outdir} is a file, not a folder", param_hint="OUTDIR")
    if outdir.is_dir() and any(outdir.iterdir()):
        if not force:
            raise click.UsageError(
                f"{outdir} is not empty: choose a new folder, or add --force to replace the sample set in it"
            )
        # an earlier, larger set's submissions would stay behind, absent from the new truth.jsonl
        shutil.rmtree(outdir / "submissions", ignore_errors=True)
    with progress_bar(console) as bar:
        task = bar.add_task("generating", total=submissions, rate="")
        info = generate(outdir, submissions, seed, decoy_parcels=decoy_parcels, progress=lambda *_: bar.advance(task))
    console.print(f"wrote {submissions} submissions to {outdir} ({json.dumps(info, default=str)[:200]})")


@click.command()
@click.option("--submissions", "-n", default=12, show_default=True, help="How many sample submissions")
@click.option("--seed", default=7, show_default=True, help="Random seed for the generated samples")
@click.option(
    "--workdir", default=None, type=click.Path(path_type=Path), help="Where samples go (default <data_dir>/demo)"
)
def demo(submissions: int, seed: int, workdir: Path | None) -> None:
    """Run the whole product end to end on generated samples and show how accurate it was."""
    generate = load_fixtures("samples").generate
    scoring = load_fixtures("scoring")
    settings = get_settings()
    workdir = workdir or settings.data_dir / "demo"
    if workdir.exists():
        shutil.rmtree(workdir)
    out = Console()
    out.rule("land-intake demo")
    out.print(f"1/4 generating {submissions} synthetic submissions (seed {seed}) in {workdir}")
    with progress_bar(console) as bar:
        task = bar.add_task("generating", total=submissions, rate="")
        generate(workdir, submissions, seed, progress=lambda *_: bar.advance(task))
    out.print(f"2/4 importing the registry export into {settings.resolved_database_url}")
    engine = open_engine(settings)
    out.print(f"    {import_csv(workdir / 'parcels.csv', engine).summary()}")
    propose = make_proposer(settings, engine)
    truth = {t["submission_id"]: t for t in scoring.load_truth(workdir / "truth.jsonl")}
    inputs = collect_submissions(sorted(p for p in (workdir / "submissions").iterdir() if p.is_dir()))
    out.print(f"3/4 reading and matching {len(inputs)} submissions")
    card = scoring.Scorecard()
    started, pages = time.perf_counter(), 0
    with progress_bar(console) as bar:
        task = bar.add_task("processing", total=len(inputs), rate="")
        for submission in inputs:
            result = process_submission(
                submission.submission_id, read_inputs(submission), settings=settings, propose=propose
            )
            pages += len(result.documents)
            card.add(truth[submission.submission_id], result)
            bar.update(task, advance=1, rate=f"{pages / (time.perf_counter() - started):.2f} docs/s")
    elapsed = time.perf_counter() - started
    out.print("4/4 results against the ground truth")
    _print_scorecard(out, card, elapsed, pages)
    console.print(f"samples kept in {workdir}; try: intake process --json {workdir}/submissions/S0001")


def _print_scorecard(out: Console, card: Any, elapsed: float, pages: int) -> None:
    """``card``: a fixtures.scoring.Scorecard (typed loosely: the wheel does not ship fixtures/)."""
    summary = Table(title="summary", show_header=False)
    summary.add_row("submissions", str(card.submissions))
    summary.add_row("documents expected / read", f"{card.doc_total} / {card.doc_total - card.doc_missing}")
    summary.add_row("document type correct", f"{card.doc_type_correct}/{card.doc_total}")
    summary.add_row("errors by code", ", ".join(f"{k}: {v}" for k, v in card.errors.items()) or "none")
    summary.add_row(
        "top-1 parcel correct (parcel in registry)",
        f"{card.top1_correct}/{card.in_registry}",
    )
    summary.add_row("owner correct", f"{card.owner_correct}/{card.in_registry}")
    summary.add_row("absent parcels kept below 0.5", f"{card.absent_below_half}/{card.absent}")
    summary.add_row("bands of best proposal", ", ".join(f"{k}: {v}" for k, v in sorted(card.bands.items())))
    summary.add_row("time", f"{elapsed:.1f} s, {pages / max(elapsed, 1e-9):.2f} documents/s")
    out.print(summary)
    fields = Table(title="field accuracy (exact, after NFC and tone normalisation)")
    fields.add_column("field")
    fields.add_column("n", justify="right")
    fields.add_column("accuracy", justify="right")
    fields.add_column("ECE", justify="right")
    for name, n, acc in card.field_accuracy():
        fields.add_row(name, str(n), f"{acc:.1%}", f"{card.expected_calibration_error(name):.3f}")
    out.print(fields)
