"""`intake`: the command line for clerks, reviewers and operators.

Exit codes (stable, like OCRmyPDF's): 0 ok (per-document failures are reported, not fatal),
2 bad usage, 3 a required input or service is missing, 130 interrupted."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from models.settings import Settings, get_settings
from worker.logging import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from worker.pipeline import ProposeFn, SubmissionResult

EXIT_OK, EXIT_USAGE, EXIT_MISSING, EXIT_INTERRUPTED = 0, 2, 3, 130

console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not console.is_terminal,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING (default from INTAKE_LOG_LEVEL, else INFO)")
@click.version_option(package_name="land-intake", prog_name="intake")
def cli(log_level: str | None) -> None:
    """Read scans of land-use-right certificates (GCN) and citizen ID cards (CCCD/CMND), extract validated
    fields and propose the matching VBDLIS parcel for review.

    \b
    Start here:  intake demo                 generate sample scans and run everything end to end
                 intake process DIR --json   read one submission folder and print the result
    Configuration comes from INTAKE_* environment variables (see the README's configuration reference)."""
    settings = get_settings()
    configure_logging(log_level or settings.log_level, settings.log_json)


def _make_proposer(settings: Settings, engine: Engine | None = None) -> ProposeFn | None:
    """The matcher's propose function, or None when the registry is empty (nothing to match against)."""
    from worker.match import Matcher
    from worker.store.db import open_database

    engine = engine or open_database(settings.resolved_database_url)
    matcher = Matcher(engine, settings)
    return matcher.propose if matcher.registry_size() > 0 else None


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per submission per line (the stable contract)")
@click.option("--no-match", is_flag=True, help="Skip matching against the registry")
def process(paths: tuple[Path, ...], as_json: bool, no_match: bool) -> None:
    """Read scans now, without the queue. Each PATH is a file (one scan; a PDF/TIFF may hold several
    documents) or a directory (one submission: every scan in it; the directory name is the submission id)."""
    from worker.pipeline import collect_submissions, process_submission, read_inputs

    settings = get_settings()
    propose = None if no_match else _make_proposer(settings)
    if propose is None and not no_match:
        console.print("[yellow]registry is empty: no proposals (load one with `intake parcels import FILE`)[/]")
    for submission in collect_submissions(list(paths)):
        result = process_submission(
            submission.submission_id, read_inputs(submission), settings=settings, propose=propose
        )
        if as_json:
            click.echo(result.model_dump_json(exclude_none=False))
        else:
            _print_summary(result)


def _print_summary(result: SubmissionResult) -> None:
    from worker.logging import mask_id, mask_name

    out = Console()
    out.rule(f"submission {result.submission_id}")
    for doc in result.documents:
        out.print(
            f"[bold]{Path(doc.source).name}[/] p{doc.page}{'.' + str(doc.part) if doc.part else ''}: "
            f"{doc.doc_type} ({doc.doc_type_confidence:.2f}), rotated {doc.orientation_deg}°, skew {doc.skew_deg:+.1f}°"
        )
        table = Table(show_header=True, header_style="dim", box=None, padding=(0, 2))
        table.add_column("field")
        table.add_column("value")
        table.add_column("conf", justify="right")
        for name, fv in doc.fields.items():
            value = fv.value
            if name in ("id_number", "old_id_number"):
                value = mask_id(value)
            table.add_row(name, str(value), f"{fv.confidence:.2f}")
        for i, owner in enumerate(doc.owners, start=1):
            for name, fv in owner.items():
                value = mask_id(fv.value) if name == "id_number" else fv.value
                table.add_row(f"owner {i} {name}", str(value), f"{fv.confidence:.2f}")
        out.print(table)
        for warning in doc.warnings:
            out.print(f"  [yellow]warning[/] {warning}")
    for err in result.errors:
        out.print(f"[red]error[/] {err.source}: {err.code}: {err.message}")
    for p in result.proposals:
        out.print(
            f"[green]proposal[/] parcel {p.parcel_id} owner {mask_name(p.owner_name)} "
            f"confidence {p.confidence:.3f} → {p.band}"
        )


@cli.command()
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--submissions", "-n", default=12, show_default=True, help="How many submissions to generate")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same documents)")
@click.option("--decoy-parcels", default=None, type=int, help="Background parcels in the registry export")
def samples(outdir: Path, submissions: int, seed: int, decoy_parcels: int | None) -> None:
    """Write synthetic scans (OUTDIR/submissions/*), a registry export (parcels.csv) and ground truth
    (truth.jsonl). Everything is synthetic: no real person's data."""
    from fixtures.samples import generate

    with progress_bar() as bar:
        task = bar.add_task("generating", total=submissions, rate="")
        info = generate(outdir, submissions, seed, decoy_parcels=decoy_parcels, progress=lambda *_: bar.advance(task))
    console.print(f"wrote {submissions} submissions to {outdir} ({json.dumps(info, default=str)[:200]})")


@cli.group()
def parcels() -> None:
    """The registry (VBDLIS export) the matcher proposes parcels from."""


@parcels.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def parcels_import(file: Path) -> None:
    """Load a registry export (CSV, one row per parcel-owner pair). Re-importing updates, never duplicates."""
    from worker.store.db import open_database
    from worker.store.registry import import_csv

    settings = get_settings()
    engine = open_database(settings.resolved_database_url)
    with progress_bar() as bar:
        task = bar.add_task("importing", total=None, rate="")
        report = import_csv(file, engine, progress=lambda n: bar.update(task, completed=n))
    console.print(report.summary() if hasattr(report, "summary") else str(report))


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
        if isinstance(code, int):
            sys.exit(code)
    except click.exceptions.Abort:
        console.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)


# Commands contributed by other stages (one line each).
from worker.demo import demo  # noqa: E402

cli.add_command(demo)
from worker.intake.backfill import backfill  # noqa: E402

cli.add_command(backfill)
from worker.intake.commands import COMMANDS as _intake_commands  # noqa: E402

for _command in _intake_commands:
    cli.add_command(_command)
from worker.match.commands import model_group  # noqa: E402

cli.add_command(model_group)
from worker.review.commands import export_command, review_group, users_group  # noqa: E402

cli.add_command(review_group)
cli.add_command(export_command)
cli.add_command(users_group)
