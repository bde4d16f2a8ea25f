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
from models.findings import SubmissionFindings, apply_findings, diff_findings
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
    loaded.reverse()
    while loaded:
        page = loaded.pop()
        number = page.page
        try:
            normalised_pages = imaging.normalise_page(page, settings=settings, reader=reader)
            del page  # the decoded picture (37 MB for a 12 MP photo) is not held while its documents are read
            for normalised in normalised_pages:
                document, read = extract.read_page(normalised, settings=settings, reader=reader)
                result.documents.append(document)
                if keep_pages:
                    result.pages.append(read)
        except IntakeError as exc:
            result.errors.append(ErrorEntry(source=f"{source}#page={number}", code=exc.code.value, message=exc.message))
        except Exception as exc:  # a bug in a stage must not take the other pages down with it
            log.error("page failed: %s page %d\n%s", source, number, traceback.format_exc())
            result.errors.append(
                ErrorEntry(
                    source=f"{source}#page={number}",
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


@dataclass
class Matched:
    """A submission's documents as its checks see them, the findings that make them so, and the proposals."""

    documents: list[Document]
    findings: SubmissionFindings
    proposals: list[Proposal]


def check_submission(documents: Sequence[Document]) -> SubmissionFindings:
    """The submission-level checks (front against back, numbers across cards, certificate against cards) as
    findings; a pure function of the documents, which are left unchanged."""
    checked = [d.model_copy(deep=True) for d in documents]
    extract.cross_check(checked)
    return diff_findings(documents, checked)


def check_and_match(documents: Sequence[Document], propose: ProposeFn | None) -> Matched:
    """Check the submission's documents, then ask the matcher (if one is configured) for proposals on them as
    checked. The same documents give the same result however often this runs."""
    findings = check_submission(documents)
    checked = apply_findings(documents, findings)
    proposals = propose(checked) if propose is not None and checked else []
    return Matched(checked, findings, proposals)


def match_documents(documents: Sequence[Document], propose: ProposeFn | None) -> list[Proposal]:
    """The proposals of `check_and_match`."""
    return check_and_match(documents, propose).proposals


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
    matched = check_and_match(result.documents, propose)
    result.documents, result.proposals = matched.documents, matched.proposals
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
