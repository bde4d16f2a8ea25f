"""`intake`: the command line for clerks, reviewers and operators.

Exit codes (stable; worker.failures maps failures to them): 0 ok (per-document failures are reported, not
fatal), 2 bad usage or an invalid setting, 3 a required input or service is missing, 130 interrupted."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from models.document import SubmissionResult
from models.settings import get_settings
from worker import aws, progress
from worker.demo import demo, samples
from worker.failures import run
from worker.intake.backfill.command import backfill
from worker.intake.commands import COMMANDS as INTAKE_COMMANDS
from worker.intake.direct import save_submissions
from worker.logging import configure_logging, mask_id, mask_name
from worker.match.commands import model_group
from worker.pipeline import collect_submissions, process_submission, read_inputs
from worker.review.commands import export_command, review_group, users_group
from worker.store.registry import import_csv
from worker.wiring import make_proposer, open_engine

console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    return progress.progress_bar(console, transient=transient)


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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per submission per line (the stable contract)")
@click.option("--no-match", is_flag=True, help="Skip matching against the registry")
@click.option(
    "--save", is_flag=True,
    help="Store the results as the worker does (documents, errors, proposals: they enter the review queue); "
    "files already stored are skipped and their stored result printed",
)  # fmt: skip
def process(paths: tuple[Path, ...], as_json: bool, no_match: bool, save: bool) -> None:
    """Read scans now, without the queue. Each PATH is a file (one scan; a PDF/TIFF may hold several
    documents) or a directory (one submission: every scan in it; the directory name is the submission id)."""
    settings = get_settings()
    engine = open_engine(settings) if save or not no_match else None
    propose = None if no_match or engine is None else make_proposer(settings, engine)
    if propose is None and not no_match:
        console.print("[yellow]registry is empty: no proposals (load one with `intake parcels import FILE`)[/]")
    submissions = collect_submissions(list(paths))
    if save and engine is not None:
        results = save_submissions(submissions, settings, engine, propose=propose)
    else:
        results = (
            process_submission(s.submission_id, read_inputs(s), settings=settings, propose=propose)
            for s in submissions
        )
    for result in results:
        if as_json:
            click.echo(result.model_dump_json(exclude_none=False))
        else:
            _print_summary(result)


def _print_summary(result: SubmissionResult) -> None:
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


@cli.group()
def parcels() -> None:
    """The registry (VBDLIS export) the matcher proposes parcels from."""


@parcels.command("import")
@click.argument("source")
def parcels_import(source: str) -> None:
    """Load a registry export (CSV, one row per parcel-owner pair, or a VBDLIS XML exchange file) from a
    local FILE or s3://bucket/key (streamed to a temporary file first). Re-importing updates, never duplicates."""
    settings = get_settings()
    engine = open_engine(settings)
    with contextlib.ExitStack() as stack:
        if source.startswith("s3://"):
            file = _download(source, Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="intake-import-"))))
        else:
            file = Path(source)
            if not file.is_file():
                raise click.BadParameter(f"{source} is not a file (nor an s3://bucket/key)", param_hint="SOURCE")
        with progress_bar() as bar:
            task = bar.add_task("importing", total=None, rate="")
            report = import_csv(file, engine, progress=lambda n: bar.update(task, completed=n), source=source)
    console.print(report.summary())


def _download(url: str, folder: Path) -> Path:
    """Stream s3://bucket/key into ``folder`` (ranged GETs, never the whole object in memory)."""
    parsed = urlparse(url)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key or key.endswith("/"):
        raise click.BadParameter(f"{url}: give s3://bucket/key of one export file", param_hint="SOURCE")
    s3 = aws.client("s3")
    size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    target = folder / PurePosixPath(key).name
    with progress_bar(transient=True) as bar, target.open("wb") as out:
        task = bar.add_task("downloading", total=size, rate="")
        s3.download_fileobj(bucket, key, out, Callback=lambda n: bar.advance(task, n))
    return target


def main() -> None:
    """The `intake` program: known failures (a service down, a bad setting or file) print one line and exit
    with the README's code (worker.failures); only a bug shows a traceback."""
    run(cli)


# Commands contributed by other stages.
for _command in (demo, samples, backfill, *INTAKE_COMMANDS, model_group, review_group, export_command, users_group):
    cli.add_command(_command)
