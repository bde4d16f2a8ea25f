"""Local processing: submissions through the queue worker's Processor, in this process or in a pool of
spawned worker processes (each builds its processor, matcher and OCR models once)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import distinct, func, select

from worker.intake.backfill.listing import SourceObject
from worker.intake.backfill.report import ObjectOutcome
from worker.intake.events import WorkItem
from worker.intake.folder import local_sha256
from worker.intake.processor import Processor
from worker.memory import peak_rss_mb
from worker.store.results import DocumentRow, SourceObjectRow
from worker.store.submissions import object_version


@dataclass
class _Context:
    processor: Processor
    root: Path | None
    job_id: str
    pipeline_version: str
    reprocess: bool
    retries: int
    stop: Any = None  # a multiprocessing.Event shared with the parent: stop between files


_ctx: _Context | None = None


def init_worker(
    build_processor: Callable[[], Processor],
    *,
    root: str | None,
    job_id: str,
    pipeline_version: str,
    reprocess: bool,
    in_pool: bool = True,
    retries: int = 2,
    stop: Any = None,
) -> None:
    """Per-process start-up: the processor (engine, object store, matcher) and OCR models once, never per
    object. ``build_processor`` must pickle (a partial of a module-level function, e.g.
    worker.wiring.backfill_processor): a spawned process is given it."""
    global _ctx
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per process beats Tesseract's own threads
    if in_pool:
        # Ctrl-C reaches the whole process group: the parent decides, workers finish what they hold
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    processor = build_processor()
    _ctx = _Context(processor, Path(root) if root else None, job_id, pipeline_version, reprocess, retries, stop)


def process_submission(objects: Sequence[SourceObject], stop: threading.Event | None = None) -> list[ObjectOutcome]:
    """Run one submission's objects through the queue worker's Processor, in order, in this process.
    A submission stays in one process so its re-matches never race each other."""
    assert _ctx is not None, "init_worker first"
    stop = stop or _ctx.stop
    outcomes: list[ObjectOutcome] = []
    for obj in objects:
        if stop is not None and stop.is_set():
            break
        started = time.perf_counter()
        version_id = obj.version_id
        if obj.is_local and _ctx.root is not None:
            # the inbox's identity for a file is its content hash; the store re-checks it on fetch
            version_id = "sha256:" + local_sha256(_ctx.root / obj.key)
        item = WorkItem(
            kind="backfill",
            key=obj.key,
            bucket=obj.bucket or None,
            version_id=version_id,
            etag=obj.etag,
            size=obj.size,
            submission_id=obj.submission_id,
            force=_ctx.reprocess,
            pipeline_version=_ctx.pipeline_version,
            backfill_id=_ctx.job_id,
        )
        outcome = ObjectOutcome(obj.bucket, obj.key, obj.submission_id, "failed", worker=os.getpid())
        for attempt in range(1, _ctx.retries + 2):
            try:
                result = _ctx.processor.process(item, attempts=attempt)
            except Exception as exc:  # transient (storage, database, OCR engine) or a bug: retry, then record
                code = getattr(getattr(exc, "code", None), "value", None) or "internal_error"
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                outcome.error_code, outcome.error_message = code, message
                if attempt <= _ctx.retries:
                    time.sleep(0.5 * attempt)
                    continue
                _ctx.processor.record_transient(item, code, message, dead=False)
                break
            outcome.status = result.status
            outcome.documents = result.documents
            outcome.error_code = result.error_code
            outcome.error_message = result.detail if result.status == "failed" else None
            if result.status == "processed":
                outcome.pages = _pages_of(obj, version_id)
            break
        outcome.seconds = time.perf_counter() - started
        outcome.max_rss_mb = peak_rss_mb()
        outcomes.append(outcome)
    return outcomes


def _pages_of(obj: SourceObject, version_id: str | None) -> int:
    """Distinct pages read from one object (a page cut into two cards counts once)."""
    assert _ctx is not None
    version = object_version(version_id=version_id, etag=obj.etag)
    with _ctx.processor.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count(distinct(DocumentRow.page)))
                .join(SourceObjectRow, SourceObjectRow.id == DocumentRow.source_object_id)
                .where(
                    SourceObjectRow.bucket == obj.bucket,
                    SourceObjectRow.key == obj.key,
                    SourceObjectRow.version_id == version,
                )
            ).scalar_one()
        )


def _pool(workers: int, init: Callable[[], None], mp: Any) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=mp, initializer=init)


def _pool_task(objects: list[SourceObject]) -> list[ObjectOutcome]:
    return process_submission(objects)


def run_local(
    groups: dict[str, list[SourceObject]],
    *,
    workers: int,
    init: Callable[..., None],
    stop: threading.Event,
    on_outcome: Callable[[ObjectOutcome], None],
    max_pool_restarts: int = 3,
) -> bool:
    """Process every submission; returns True if stopped before the end. ``init`` is init_worker with its
    arguments bound (it also runs in-process when workers == 1, where no pool is worth its start-up).

    Stopping: submissions not yet started are cancelled, workers finish the file they hold and skip the
    rest of their submission; what was recorded stays recorded, so the next run resumes after it."""
    pending = list(groups.values())
    if workers <= 1:
        init(in_pool=False, stop=stop)
        for objects in pending:
            if stop.is_set():
                return True
            for outcome in process_submission(objects, stop):
                on_outcome(outcome)
        return stop.is_set()
    return _run_pool(pending, workers, init, stop, on_outcome, max_pool_restarts)


InFlight = dict[Future[list[ObjectOutcome]], list[SourceObject]]


def _run_pool(
    pending: list[list[SourceObject]],
    workers: int,
    init: Callable[..., None],
    stop: threading.Event,
    on_outcome: Callable[[ObjectOutcome], None],
    max_pool_restarts: int,
) -> bool:
    """run_local with a pool of `workers` spawned processes, started again (up to `max_pool_restarts`
    times) when one of them dies."""
    # spawn, not fork: the parent holds a database pool and rich's threads, neither survives a fork
    mp = multiprocessing.get_context("spawn")
    shared_stop = mp.Event()
    make_pool = partial(_pool, workers, partial(init, in_pool=True, stop=shared_stop), mp)
    restarts = 0
    queue = iter(pending)
    pool = make_pool()
    in_flight: InFlight = {}
    try:
        exhausted = False
        while True:
            if stop.is_set() and not shared_stop.is_set():
                shared_stop.set()
                for fut in list(in_flight):
                    if fut.cancel():
                        in_flight.pop(fut)
            if not exhausted:
                exhausted = _submit(pool, queue, in_flight, workers * 2, stop)
            if not in_flight:
                break
            if _collect(in_flight, on_outcome):  # a worker process died: the pool is broken
                for fut, objects in list(in_flight.items()):
                    for o in objects:
                        on_outcome(_died(o, "lost with a dead worker process"))
                    in_flight.pop(fut)
                pool.shutdown(wait=False, cancel_futures=True)
                restarts += 1
                if restarts > max_pool_restarts:
                    stop.set()
                    return True
                pool = make_pool()
        return stop.is_set()
    except KeyboardInterrupt:
        # second Ctrl-C: abandon in-flight work; nothing half-written is committed, the next run redoes it
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _submit(
    pool: ProcessPoolExecutor,
    queue: Iterator[list[SourceObject]],
    in_flight: InFlight,
    window: int,
    stop: threading.Event,
) -> bool:
    """Queue submissions until `window` are in flight; returns True once `queue` has run out. A window of one
    queued submission per worker keeps them busy, leaves little to cancel, and a million submissions are
    never all pickled into the pool at once."""
    while not stop.is_set() and len(in_flight) < window:
        objects = next(queue, [])
        if not objects:
            return True
        in_flight[pool.submit(_pool_task, objects)] = objects
    return False


def _collect(in_flight: InFlight, on_outcome: Callable[[ObjectOutcome], None]) -> bool:
    """Report the submissions finished within 0.2 s; returns True if a worker process died."""
    finished, _ = wait(list(in_flight), timeout=0.2, return_when=FIRST_COMPLETED)
    broken = False
    for fut in finished:
        objects = in_flight.pop(fut)
        try:
            outcomes = fut.result()
        except BrokenProcessPool:
            broken = True
            outcomes = [_died(o, "a worker process died (out of memory or killed)") for o in objects]
        except Exception as exc:  # pickling trouble or a bug outside the Processor's own handling
            outcomes = [_died(o, f"{type(exc).__name__}: {exc}") for o in objects]
        for outcome in outcomes:
            on_outcome(outcome)
    return broken


def _died(obj: SourceObject, message: str) -> ObjectOutcome:
    return ObjectOutcome(
        obj.bucket, obj.key, obj.submission_id, "failed", error_code="internal_error", error_message=message
    )
