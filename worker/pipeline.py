"""The pipeline: load → normalise → OCR/classify/extract/validate → cross-check → match.

Every stage is called through its package's public API, so a stage can be deepened without touching the
others. Failure isolation: a bad file becomes an ErrorEntry with a stable code; one failing page does not
stop the other pages of the file, and one failing file does not stop the submission."""

from __future__ import annotations

import ctypes
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.document import Document, ErrorEntry, SubmissionResult
from models.errors import ErrorCode
from models.pages import NormalisedPage
from models.proposal import Proposal
from models.settings import Settings, get_settings
from worker import extract, imaging
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
    _allocator.before_file(settings.keep_freed_memory_mb)  # once per process, whichever entry point it runs
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
    _allocator.after_file(settings.keep_freed_memory_mb)
    return result


class _Allocator:
    """glibc's allocator, tuned for a worker that reads file after file of similar size.

    By default glibc serves every block over 128 KB-32 MB (a page image is 12 MB, its masks and copies a few
    MB each) with a fresh mmap and unmaps it on free, and hands the heap's free top back past 128 KB. Every
    file then faults all its memory in again: ~20 ms of kernel time per page, 4% of the page's CPU on the
    seed-11 throughput pages. So blocks come from the heap, and what a file frees is kept for the next one;
    only once the resident size passes `keep_freed_memory_mb` is it handed back after each file. Between
    files the worker then stays near its peak instead of dropping back (the next file reuses that memory);
    the throughput bench's worker peaked at 359 MB against 333 MB with a trim after every file."""

    _M_TRIM_THRESHOLD = -1
    _M_MMAP_THRESHOLD = -3
    _HEAP_BLOCKS_UP_TO = 256 * 1024 * 1024  # larger blocks (a huge scan) still get their own mmap

    def __init__(self, libc: Any = None) -> None:
        try:
            libc = libc or ctypes.CDLL("libc.so.6")
            self._trim: Callable[[int], int] | None = libc.malloc_trim
            self._mallopt: Callable[[int, int], int] | None = libc.mallopt
        except (OSError, AttributeError):  # not glibc (macOS, musl): the platform's allocator as it is
            self._trim = self._mallopt = None
        self._tuned = False

    def before_file(self, keep_mb: int) -> None:
        if self._mallopt is None or self._tuned or keep_mb <= 0:
            return
        self._mallopt(self._M_MMAP_THRESHOLD, self._HEAP_BLOCKS_UP_TO)
        self._mallopt(self._M_TRIM_THRESHOLD, 2**31 - 1)  # no trimming inside free(): see after_file
        self._tuned = True

    def after_file(self, keep_mb: int) -> None:
        """Hand freed memory back to the OS if the process holds more than `keep_mb` MB (~1 ms)."""
        if self._trim is None:
            return
        if not self._tuned or resident_mb() > keep_mb:
            self._trim(0)


def resident_mb() -> float:
    """This process's resident set size now (Linux; elsewhere 0)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_allocator = _Allocator()


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
