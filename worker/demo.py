"""`intake demo`: generate sample scans, load their registry, read and match them, and score the result."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from models.settings import get_settings

if TYPE_CHECKING:
    from bench.truth import Scorecard


@click.command()
@click.option("--submissions", "-n", default=12, show_default=True, help="How many sample submissions")
@click.option("--seed", default=7, show_default=True, help="Random seed for the generated samples")
@click.option(
    "--workdir", default=None, type=click.Path(path_type=Path), help="Where samples go (default <data_dir>/demo)"
)
def demo(submissions: int, seed: int, workdir: Path | None) -> None:
    """Run the whole product end to end on generated samples and show how accurate it was."""
    from bench.truth import Scorecard, load_truth
    from fixtures.samples import generate
    from worker.cli import _make_proposer, console, progress_bar
    from worker.pipeline import collect_submissions, process_submission, read_inputs
    from worker.store.migrate import open_database
    from worker.store.registry import import_csv

    settings = get_settings()
    workdir = workdir or settings.data_dir / "demo"
    if workdir.exists():
        shutil.rmtree(workdir)
    out = Console()
    out.rule("land-intake demo")
    out.print(f"1/4 generating {submissions} synthetic submissions (seed {seed}) in {workdir}")
    with progress_bar() as bar:
        task = bar.add_task("generating", total=submissions, rate="")
        generate(workdir, submissions, seed, progress=lambda *_: bar.advance(task))
    out.print(f"2/4 importing the registry export into {settings.resolved_database_url}")
    engine = open_database(settings.resolved_database_url)
    report = import_csv(workdir / "parcels.csv", engine)
    out.print(f"    {report.summary() if hasattr(report, 'summary') else report}")
    propose = _make_proposer(settings, engine)
    truth = {t["submission_id"]: t for t in load_truth(workdir / "truth.jsonl")}
    inputs = collect_submissions(sorted(p for p in (workdir / "submissions").iterdir() if p.is_dir()))
    out.print(f"3/4 reading and matching {len(inputs)} submissions")
    card = Scorecard()
    started, pages = time.perf_counter(), 0
    with progress_bar() as bar:
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


def _print_scorecard(out: Console, card: Scorecard, elapsed: float, pages: int) -> None:
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
