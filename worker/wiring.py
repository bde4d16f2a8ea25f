"""The composition root: the one module that builds the product's parts from Settings.

Stages take their collaborators as arguments (an engine, an object store, a queue, a propose function); only
the entry points (the CLI commands, the worker and backfill processes, the demo) come here to have them built
from the environment. So a stage never decides which database, bucket, queue or matcher it talks to, and a
test hands it whichever it wants.

    open_engine(settings)                     the database at the current schema (migrated under a lock)
    make_matcher(settings, engine)            the matcher, with the band thresholds an admin saved
    make_proposer(settings, engine, ...)      its propose function, or None while the registry is empty
    build_worker(settings, ...)               a queue worker with its processor (and the inbox watcher)
    run_single(settings, ...)                 build one worker and run it until stopped or drained
    backfill_processor(settings_json, ...)    the processor of one local backfill process
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from models.document import Document
from models.proposal import Proposal
from models.settings import Settings
from worker import metrics
from worker.intake.folder import DirectoryStore
from worker.intake.loop import Worker, WorkerOptions, WorkerStats, settle_inbox
from worker.intake.processor import Processor
from worker.intake.queues import Queue, make_queue
from worker.intake.sources import InboxWatcher, ObjectStore, S3Store, archive_dir, make_store
from worker.match import Matcher
from worker.match.matcher import ThresholdSource
from worker.pipeline import ProposeFn
from worker.store.db import make_engine
from worker.store.migrate import open_database
from worker.store.review import get_thresholds

log = logging.getLogger(__name__)

# how often a long-running worker asks whether the registry has been imported meanwhile
REGISTRY_RECHECK_S = 60.0


def open_engine(settings: Settings) -> Engine:
    """The configured database, created or migrated to the current schema."""
    return open_database(settings.resolved_database_url)


def saved_thresholds(engine: Engine, settings: Settings) -> ThresholdSource:
    """The band thresholds an admin saved in the review app, else the settings' (also when the database has
    no review tables, as a registry-only one for a benchmark)."""

    def read() -> tuple[float, float]:
        try:
            saved = get_thresholds(engine, settings)
        except SQLAlchemyError as exc:
            log.debug("review thresholds unavailable (%s); using settings", type(exc).__name__)
            return settings.auto_accept_threshold, settings.review_threshold
        return saved.auto_accept_threshold, saved.review_threshold

    return read


def make_matcher(settings: Settings, engine: Engine) -> Matcher:
    return Matcher(engine, settings, thresholds=saved_thresholds(engine, settings))


def make_proposer(settings: Settings, engine: Engine, *, follow_registry: bool = False) -> ProposeFn | None:
    """The matcher's propose function. A one-off run (a command, a backfill process) gets None when the
    registry is empty, so it can say there is nothing to match against. A long-running worker
    (``follow_registry``) always gets a function, which re-reads the registry size every REGISTRY_RECHECK_S
    seconds, so a registry imported while it runs is used without a restart."""
    matcher = make_matcher(settings, engine)
    if not follow_registry:
        return matcher.propose if matcher.registry_size() > 0 else None
    size_cache: dict[str, float] = {"at": 0.0, "size": 0.0}

    def propose(documents: list[Document]) -> list[Proposal]:
        if time.monotonic() - size_cache["at"] > REGISTRY_RECHECK_S:
            matcher.refresh()
            size_cache["size"], size_cache["at"] = float(matcher.registry_size()), time.monotonic()
        if size_cache["size"] <= 0:
            return []
        return matcher.propose(documents)

    return propose


def build_worker(
    settings: Settings,
    *,
    options: WorkerOptions | None = None,
    inbox: Path | None = None,
    engine: Engine | None = None,
    queue: Queue | None = None,
    propose: ProposeFn | bool | None = True,
    health: metrics.Health | None = None,
) -> tuple[Worker, InboxWatcher | None]:
    """A worker wired from settings (and its inbox watcher in inbox mode, not started). ``propose=True``:
    the project's matcher; None/False: no matching; or any callable."""
    options = options or WorkerOptions()
    engine = engine or open_engine(settings)
    queue = queue or make_queue(settings)
    store: ObjectStore = make_store(settings, inbox=inbox)
    propose_fn = make_proposer(settings, engine, follow_registry=True) if propose is True else (propose or None)
    processor = Processor(settings, engine, store, propose=propose_fn, key_prefix=options.key_prefix)
    watcher = None
    if store.origin == "inbox" and options.watch:
        watcher = InboxWatcher(
            inbox or settings.resolved_inbox_dir,
            archive_dir(settings),
            lambda body, key: queue.send(body, dedup_key=key),
            settle_s=options.settle_s,
        )
    health = health or metrics.Health(stale_after_s=max(120.0, options.wait_s * 3))
    health.checks["database"] = lambda: _ping_database(engine)
    health.checks["queue"] = lambda: queue.depth() is not None
    worker = Worker(
        settings,
        queue=queue,
        processor=processor,
        options=options,
        health=health,
        idle_check=(lambda: watcher.pending == 0) if watcher is not None else None,
    )
    return worker, watcher


def _ping_database(engine: Engine) -> bool:
    with engine.connect() as conn:
        conn.execute(text("select 1"))
    return True


def run_single(
    settings: Settings, *, options: WorkerOptions, inbox: Path | None = None, metrics_port: int | None = None
) -> WorkerStats:
    """One worker in this process, with its inbox watcher in a thread, until SIGTERM (or drained)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # Tesseract single-threaded: parallelism is processes
    worker, watcher = build_worker(settings, options=options, inbox=inbox)
    worker.install_signal_handlers()
    if metrics_port is not None:
        metrics.serve(metrics_port, worker.health)
    watcher_thread = None
    if watcher is not None:
        if options.drain:
            settle_inbox(watcher, worker.stop)
        watcher_thread = threading.Thread(target=watcher.run, args=(worker.stop,), name="inbox-watcher", daemon=True)
        watcher_thread.start()
    try:
        return worker.run()
    finally:
        worker.stop.set()
        if watcher_thread is not None:
            watcher_thread.join(timeout=5)


def backfill_processor(settings_json: str, *, root: str | None, bucket: str, prefix: str) -> Processor:
    """The Processor of one local backfill process (module-level, so a spawned process can be given it):
    originals from the SOURCE folder or the bucket, the configured database (the parent has migrated it, so
    this only connects) and the matcher."""
    settings = Settings.model_validate_json(settings_json)
    engine = make_engine(settings.resolved_database_url)
    store: ObjectStore = DirectoryStore(Path(root), settings) if root else S3Store(settings.bucket or bucket)
    return Processor(settings, engine, store, propose=make_proposer(settings, engine), key_prefix=prefix)
