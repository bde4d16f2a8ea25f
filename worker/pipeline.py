"""The pipeline: load → normalise → OCR/classify/extract/validate → cross-check → match.

Every stage is called through its package's public API, so a stage can be deepened without touching the
others. Failure isolation: a bad file becomes an ErrorEntry with a stable code; one failing page does not
stop the other pages of the file, and one failing file does not stop the submission."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.document import Document, ErrorEntry, SubmissionResult
from models.errors import ErrorCode
from models.pages import NormalisedPage
from models.proposal import Proposal
from models.settings import Settings, get_settings
from worker import extract, imaging, memory
from worker.errors import IntakeError
from worker.ocr import Reader, TesseractReader

log = logging.getLogger(__name__)

PIPELINE_VERSION = "0.1.0"
SUPPORTED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".pdf", ".webp", ".bmp"})

ProposeFn = Callable[[list[Document]], list[Proposal]]


@dataclass
class FileResult:
    documents: list[Document] = field(default_factory=list)
    errors: list[ErrorEntry] = field(default_factory=list)
    # normalised images by (page, part), kept so the caller can store derived images for review
    pages: list[NormalisedPage] = field(default_factory=list)


def read_file(
    data: bytes,
    source: str,
    *,
    settings: Settings | None = None,
    keep_pages: bool = False,
    reader: Reader | None = None,
    sha256: str | None = None,
) -> FileResult:
    """Read every document in one file. Never raises for bad input: errors come back as entries. `reader`
    is the OCR engine every stage reads through (default: Tesseract with the configured language);
    `sha256` the file's digest when the caller hashed it already."""
    settings = settings or get_settings()
    reader = reader or TesseractReader(settings.tesseract_lang)
    memory.allocator.before_file(settings.keep_freed_memory_mb)  # once per process, whichever entry point it runs
    result = FileResult()
    try:
        loaded = imaging.load_pages(data, source, settings=settings, sha256=sha256)
    except IntakeError as exc:
        result.errors.append(ErrorEntry(source=source, code=exc.code.value, message=exc.message))
        return result
    for page in loaded:
        try:
            for normalised in imaging.normalise_page(page, settings=settings, reader=reader):
                document, read = extract.read_page(normalised, settings=settings, reader=reader)
                result.documents.append(document)
                if keep_pages:
                    result.pages.append(read)
        except IntakeError as exc:
            result.errors.append(
                ErrorEntry(source=f"{source}#page={page.page}", code=exc.code.value, message=exc.message)
            )
        except Exception as exc:  # a bug in a stage must not take the other pages down with it
            log.error("page failed: %s page %d\n%s", source, page.page, traceback.format_exc())
            result.errors.append(
                ErrorEntry(
                    source=f"{source}#page={page.page}",
                    code=ErrorCode.INTERNAL.value,
                    message=f"{type(exc).__name__}: {exc}",
                )
            )
    if not result.documents and not result.errors:
        result.errors.append(
            ErrorEntry(source=source, code=ErrorCode.UNREADABLE.value, message="no page could be read")
        )
    memory.allocator.after_file(settings.keep_freed_memory_mb)
    return result


def match_documents(documents: list[Document], propose: ProposeFn | None) -> list[Proposal]:
    """Cross-check the submission's documents, then ask the matcher for proposals (if one is configured)."""
    extract.cross_check(documents)
    if propose is None:
        return []
    return propose(documents)


def process_submission(
    submission_id: str,
    files: Iterable[tuple[str, bytes]],
    *,
    settings: Settings | None = None,
    propose: ProposeFn | None = None,
) -> SubmissionResult:
    settings = settings or get_settings()
    result = SubmissionResult(submission_id=submission_id)
    for source, data in files:
        file_result = read_file(data, source, settings=settings)
        result.documents.extend(file_result.documents)
        result.errors.extend(file_result.errors)
    result.proposals = match_documents(result.documents, propose)
    return result


@dataclass(frozen=True)
class SubmissionInput:
    submission_id: str
    files: tuple[Path, ...]


def collect_submissions(paths: Sequence[Path]) -> list[SubmissionInput]:
    """A directory is one submission (its name is the id; files in it, recursively); a file is its own."""
    submissions: list[SubmissionInput] = []
    for path in paths:
        if path.is_dir():
            files = tuple(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
            submissions.append(SubmissionInput(path.resolve().name, files))
        else:
            submissions.append(SubmissionInput(path.stem, (path,)))
    return submissions


def read_inputs(submission: SubmissionInput) -> Iterable[tuple[str, bytes]]:
    for path in submission.files:
        yield str(path), path.read_bytes()
