"""The pipeline worker processes of `python -m bench throughput` (spawned): apart from bench/throughput.py so that
they import only what a production worker imports, and their start-up and memory figures stay comparable."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.settings import Settings
from worker import pipeline
from worker.memory import peak_rss_mb
from worker.ocr import TesseractReader


def cpu_seconds() -> float:
    """User+sys CPU of this process and every descendant already waited for."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


_worker: dict[str, Any] = {}


def init_worker(database_url: str | None, match: bool, warm_files: tuple[str, ...] = ()) -> None:
    """Per-process start-up: everything expensive happens once here, never per page. `warm_files` (a
    warm-up submission generated with another seed) go through the whole pipeline once, so that what a
    long-running worker pays only on its first documents (lazy imports, the second OCR model, lexicons,
    the extractors' tables) is start-up too, not charged to the few measured pages."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    settings = Settings(database_url=database_url) if database_url else Settings()
    _worker["settings"] = settings
    _worker["pipeline"] = pipeline
    _worker["propose"] = None
    if match:
        _worker["propose"] = _make_proposer(settings)
    # warm the OCR models on a blank card so model loading is start-up, not page cost
    TesseractReader(settings.tesseract_lang).read(np.full((64, 256), 255, np.uint8))
    documents: list[Any] = []
    for f in warm_files:
        documents += pipeline.read_file(Path(f).read_bytes(), f, settings=settings).documents
    if documents:
        pipeline.match_documents(documents, _worker["propose"])
    # the peak so far is the warm-up's: report it apart, and measure the pages' own peak from here on
    _worker["warm_rss_mb"] = peak_rss_mb() if warm_files else 0.0
    if warm_files:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS
    _worker["startup_cpu"] = _own_cpu()


def _make_proposer(settings: Any) -> Any:
    # only a matching run's workers load the store and the matcher, as before: their memory is what is measured
    from worker.store.db import make_engine
    from worker.wiring import make_proposer

    return make_proposer(settings, make_engine(settings.resolved_database_url))


def _own_cpu() -> float:
    return cpu_seconds()


def task(submission_id: str, files: list[str]) -> dict[str, Any]:
    pipeline = _worker["pipeline"]
    settings = _worker["settings"]
    documents: list[Any] = []
    errors = 0
    pages = 0
    match_cpu = 0.0
    for f in files:
        result = pipeline.read_file(Path(f).read_bytes(), f, settings=settings)
        documents.extend(result.documents)
        errors += len(result.errors)
        pages += len({d.page for d in result.documents}) or 1
        # as the queue worker and backfill do: the whole submission is matched again after each file, on
        # documents fresh from the store (the copy stands for that load and is not timed)
        fresh = [d.model_copy(deep=True) for d in documents]
        t0 = time.process_time()
        pipeline.match_documents(fresh, _worker["propose"])
        match_cpu += time.process_time() - t0
    return {
        "pid": os.getpid(),
        "pages": pages,
        "documents": len(documents),
        "errors": errors,
        "match_cpu_s": match_cpu,
        "files": len(files),
        "cpu": cpu_seconds(),
        "startup_cpu": _worker["startup_cpu"],
        "rss_mb": peak_rss_mb(),
        "warm_rss_mb": _worker["warm_rss_mb"],
    }


def noop(_: int) -> int:
    time.sleep(0.05)  # long enough that the pool spreads the warm-up over every worker
    return os.getpid()
