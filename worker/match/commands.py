"""`intake model ...`: the matcher's model, refined from what review staff decided."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import Engine

from models.document import Document
from models.findings import apply_findings
from models.settings import get_settings
from worker.match.model import MODEL_PATH, Model, active_model_path
from worker.match.train import refine_from_reviews
from worker.store.db import session_scope
from worker.store.migrate import open_database
from worker.store.review import DecidedPair, decided_pairs
from worker.store.submissions import load_documents, load_findings


@click.group("model")
def model_group() -> None:
    """The matching model (Fellegi-Sunter weights and their calibration)."""


@model_group.command("show")
def show() -> None:
    """Which model the matcher loads, its version and how it was trained."""
    path = active_model_path(get_settings())
    model = Model.load(path)
    click.echo(f"model {model.version} from {path}")
    click.echo(f"calibration: {model.calibration.method}")
    for key, value in sorted(model.training.items()):
        click.echo(f"{key}: {value}")


@model_group.command("refine")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the refined model (default INTAKE_MATCH_MODEL, else <data_dir>/match_model.json, "
    "which the matcher then loads in place of the shipped model)",
)
@click.option(
    "--strength",
    default=200.0,
    show_default=True,
    help="How many labelled pairs the current model counts for: higher moves it less per decision",
)
def refine(out: Path | None, strength: float) -> None:
    """Fold the standing review decisions (accepted and rejected candidates) into the model's m and u
    probabilities. Restart the workers afterwards; new proposals record the new model version."""
    settings = get_settings()
    engine = open_database(settings.resolved_database_url)
    reviewed = reviewed_submissions(engine)
    if not reviewed:
        # writing an unchanged model would only give it a new version and make workers load it
        click.echo("no review decisions yet: nothing to refine, no model written (decide some items first)")
        return
    target = out or settings.refined_match_model
    source = target if target.is_file() else MODEL_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    result = refine_from_reviews(engine, reviewed, source, target, settings=settings, strength=strength)
    click.echo(
        f"model {result['version']} written to {target}: "
        f"{result.get('matches', 0)} accepted and {result.get('non_matches', 0)} rejected candidate pairs folded in"
    )


def reviewed_submissions(engine: Engine) -> list[tuple[list[Document], list[DecidedPair]]]:
    """Each submission with standing review decisions: its documents as the matcher saw them (stored, with the
    findings of its last re-match) and the candidates judged on it (what refine_from_reviews learns from)."""
    by_submission: dict[str, list[DecidedPair]] = {}
    for pair in decided_pairs(engine):
        by_submission.setdefault(pair.submission_id, []).append(pair)
    reviewed: list[tuple[list[Document], list[DecidedPair]]] = []
    with session_scope(engine) as session:
        for submission_id, pairs in by_submission.items():
            documents = apply_findings(load_documents(session, submission_id), load_findings(session, submission_id))
            reviewed.append((documents, pairs))
    return reviewed
