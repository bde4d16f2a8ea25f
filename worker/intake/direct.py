"""`intake process --save`: read local scans now, and store them exactly as the queue worker would.

Each file goes through the worker's Processor (the same identity, deduplication, derived images, documents,
errors, re-match and job rows), so a saved submission appears in `intake status` and in the review queue like
one taken from the inbox. A folder is one submission (its name is the id; its files are keyed
``<folder>/<path>`` as inbox files are); a single file is a submission of its own, named by its stem.
Re-running skips what is stored already and prints the stored result again."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models.document import ErrorEntry, SubmissionResult
from models.findings import apply_findings
from models.settings import Settings
from worker.intake.events import WorkItem
from worker.intake.folder import DirectoryStore, local_sha256
from worker.intake.loop import classify_exception
from worker.intake.processor import Processor, ProposeFn
from worker.pipeline import SubmissionInput
from worker.store import submissions as repo
from worker.store.db import session_scope
from worker.store.results import ErrorRow

log = logging.getLogger(__name__)


def save_submissions(
    submissions: Sequence[SubmissionInput], settings: Settings, engine: Any, *, propose: ProposeFn | None
) -> Iterator[SubmissionResult]:
    """Process and store each submission; yield what is stored for it afterwards."""
    processors: dict[Path, Processor] = {}
    for submission in submissions:
        for path in submission.files:
            root, key = _root_and_key(submission, path)
            if root not in processors:
                processors[root] = Processor(settings, engine, DirectoryStore(root, settings), propose=propose)
            _process_file(processors[root], path, key, submission.submission_id)
        yield stored_result(engine, submission.submission_id)


def _root_and_key(submission: SubmissionInput, path: Path) -> tuple[Path, str]:
    """The folder keys are relative to, and the key: ``<submission folder>/<path in it>`` for a file of a
    folder submission, the file name for a file on its own."""
    path = path.resolve()
    for folder in path.parents:
        if folder.name == submission.submission_id:
            return folder.parent, path.relative_to(folder.parent).as_posix()
    return path.parent, path.name


def _process_file(processor: Processor, path: Path, key: str, submission_id: str) -> None:
    item = WorkItem(
        kind="process_object",
        key=key,
        version_id="sha256:" + local_sha256(path),
        size=path.stat().st_size,
        submission_id=submission_id,
    )
    try:
        processor.process(item)  # logs what it did
    except Exception as exc:
        code, message = classify_exception(exc)
        if code == "database_unavailable":
            raise  # nothing can be stored: the command stops with one line (worker.failures)
        processor.record_transient(item, code, message, dead=True)
        log.warning("%s: %s: %s", key, code, message)


def stored_result(engine: Any, submission_id: str) -> SubmissionResult:
    """A submission as stored: its documents (with the findings of its last re-match), current proposals and
    recorded errors."""
    with session_scope(engine) as s:
        errors = s.scalars(select(ErrorRow).where(ErrorRow.submission_id == submission_id).order_by(ErrorRow.id))
        return SubmissionResult(
            submission_id=submission_id,
            documents=apply_findings(repo.load_documents(s, submission_id), repo.load_findings(s, submission_id)),
            proposals=repo.load_proposals(s, submission_id),
            errors=[ErrorEntry(source=e.source, code=e.code, message=e.message) for e in errors],
        )
