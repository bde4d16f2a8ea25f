"""`intake process`: read scans now, without the queue."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from models.document import SubmissionResult
from models.settings import get_settings
from worker.intake.direct import save_submissions
from worker.logging import mask_id, mask_name
from worker.pipeline import collect_submissions, process_submission, read_inputs
from worker.wiring import make_proposer, open_engine

console = Console(stderr=True)


@click.command()
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
            process_submission(s.submission_id, read_inputs(s), settings=settings, propose=propose) for s in submissions
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
