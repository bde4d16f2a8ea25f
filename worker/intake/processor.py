"""One work item, idempotently: fetch → (dedupe) → read → store derived images → commit documents, errors,
the re-matched proposals and the job status in one transaction.

Why it is safe to run twice, or to be killed anywhere:
- nothing is written to the database before the final transaction except the job's progress row;
- derived images are content-addressed (``<sha256>/p<page>.jpg``), so rewriting them is harmless;
- the final transaction locks the submission, re-checks the object's status and skips documents the
  submission already holds, so a redelivered message (or two workers holding the same message after a
  visibility timeout) ends with one set of documents and one set of proposals.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.document import ErrorEntry
from models.errors import ErrorCode, is_permanent
from models.proposal import Proposal
from models.settings import Settings
from worker import metrics, pipeline
from worker.errors import IntakeError, UntrustedMessage
from worker.files import Unsafe, relative_key
from worker.intake.events import WorkItem, ignore_reason, submission_for_key
from worker.intake.sources import Fetched, ObjectStore
from worker.pipeline import ProposeFn
from worker.store import submissions as repo
from worker.store.db import session_scope
from worker.store.results import DocumentRow, SubmissionRow
from worker.store.review import reconcile_rematch

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: str  # processed | duplicate | failed | skipped | rematched | ignored
    submission_id: str | None = None
    documents: int = 0
    proposals: int = 0
    error_code: str | None = None
    detail: str = ""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pipeline_version() -> str:
    return pipeline.PIPELINE_VERSION  # read when called: a test or bench may set another version


def store_proposals(session: Session, submission_id: str, proposals: Sequence[Proposal]) -> SubmissionRow:
    """Replace a submission's proposals (the store persists), then apply the review policy: a reviewer's
    decision is never overwritten silently, it is kept when the new best proposal agrees or the item is
    reopened (worker.store.review.reconcile_rematch). Call under ``lock_submission``."""
    submission = repo.replace_proposals(session, submission_id, proposals)
    if submission.review_status == "decided":
        reconcile_rematch(session, submission_id, proposals)
        session.refresh(submission)
    return submission


@contextmanager
def _timed(stage: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        timings[stage] = timings.get(stage, 0.0) + seconds
        metrics.STAGE_SECONDS.labels(stage).observe(seconds)


class Processor:
    def __init__(
        self,
        settings: Settings,
        engine: Any,
        store: ObjectStore,
        *,
        propose: ProposeFn | None = None,
        worker_id: str | None = None,
        key_prefix: str = "",
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.propose = propose
        self.worker_id = worker_id or default_worker_id()
        self.key_prefix = key_prefix

    # ------------------------------------------------------------------ helpers

    def bucket_of(self, item: WorkItem) -> str:
        if self.store.origin != "s3":
            return ""
        return item.bucket or str(getattr(self.store, "bucket", ""))

    def submission_of(self, item: WorkItem) -> tuple[str, str]:
        sid, prefix = submission_for_key(item.key, self.key_prefix)
        return (item.submission_id or sid)[:200], prefix

    def _extra(self, item: WorkItem, sid: str | None, **more: Any) -> dict[str, Any]:
        return {"source": item.display, "submission_id": sid, "job_id": item.job_id, "worker": self.worker_id, **more}

    def check(self, item: WorkItem) -> None:
        """Refuse a message naming what this worker must not read: an object in another bucket or outside the
        key prefix, a bucket in inbox mode, a path that is absolute or climbs out of the inbox. Raises
        UntrustedMessage (dead-lettered at once as bad_message)."""
        if item.kind == "rematch_submission":
            return
        if self.store.origin == "s3":
            bucket = str(getattr(self.store, "bucket", ""))
            if item.bucket and item.bucket != bucket:
                raise UntrustedMessage(f"s3://{item.bucket}/{item.key}: not this worker's bucket ({bucket})")
            if self.key_prefix and not item.key.startswith(self.key_prefix):
                raise UntrustedMessage(f"{item.key}: outside the key prefix {self.key_prefix!r}")
            return
        if item.bucket:
            raise UntrustedMessage(f"s3://{item.bucket}/{item.key}: this worker reads the inbox, not a bucket")
        try:
            relative_key(item.key)
        except Unsafe as exc:
            raise UntrustedMessage(str(exc)) from exc

    def probe(self) -> None:
        """Raise unless the database and the storage answer (the worker's circuit breaker calls this)."""
        with self.engine.connect() as conn:
            conn.execute(text("select 1"))
        self.store.ping()

    # ------------------------------------------------------------------ entry point

    def process(self, item: WorkItem, *, attempts: int = 1) -> Outcome:
        """Do the item. Permanent input errors are recorded and returned as Outcome(status="failed");
        transient trouble raises (IntakeError with a transient code, or a database/driver exception)."""
        self.check(item)
        if item.kind == "rematch_submission":
            return self.rematch(item.submission_id or self.submission_of(item)[0], job_id=item.job_id)
        reason = ignore_reason(item.key, derived_prefix=self.settings.derived_prefix if item.bucket else "")
        if reason:
            log.info("ignored %s: %s", item.display, reason)
            return Outcome("ignored", detail=reason)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        bucket = self.bucket_of(item)
        sid, prefix = self.submission_of(item)
        version = item.version

        done = self._start(item, bucket, sid, version, attempts)
        if done is not None:
            return done

        try:
            with _timed("fetch", timings):
                fetched = self.store.fetch(item, max_bytes=self.settings.max_file_bytes)
        except IntakeError as exc:
            if not exc.permanent or isinstance(exc, UntrustedMessage):
                raise
            return self.record_failure(item, exc.code, exc.message, started=started)

        if not item.force:
            dup = self._link_duplicate(item, fetched, sid, prefix, bucket, version, started)
            if dup is not None:
                return dup

        with _timed("read", timings):
            result = self._read(item, fetched, started)
        if isinstance(result, Outcome):
            return result

        with _timed("derive", timings):
            image_keys = self._store_derived(fetched.sha256, result.pages)

        with _timed("store", timings):
            committed = self._commit(item, fetched, result, image_keys, sid, prefix, timings, started)
        if isinstance(committed, Outcome):
            return committed
        inserted, proposals = committed
        self._report(item, sid, result, len(inserted), len(proposals), started)
        return Outcome("processed", sid, documents=len(inserted), proposals=len(proposals))

    # ------------------------------------------------------------------ pieces

    def _start(self, item: WorkItem, bucket: str | None, sid: str, version: str, attempts: int) -> Outcome | None:
        """Record the job as started, unless the object is done already (a redelivery after a crash between
        commit and ack, or the same event twice): then the outcome to return."""
        with session_scope(self.engine) as s:
            existing = repo.find_object(s, bucket, item.key, version)
            if existing is not None and existing.status in repo.DONE_STATUSES and not item.force:
                return Outcome("skipped", sid, detail=f"already {existing.status}")
            repo.start_job(
                s,
                item.job_id,
                kind=item.kind,
                bucket=bucket,
                key=item.key,
                submission_id=sid,
                worker_id=self.worker_id,
                attempts=attempts,
                backfill_id=item.backfill_id,
            )
        return None

    def _read(self, item: WorkItem, fetched: Fetched, started: float) -> pipeline.FileResult | Outcome:
        """The file read by the pipeline; transient trouble raises (a half-written inbox copy included), a file
        with no document in it is recorded as failed and its outcome returned."""
        result = pipeline.read_file(
            fetched.data, item.display, settings=self.settings, keep_pages=True, sha256=fetched.sha256
        )
        transient = [e for e in result.errors if not _permanent_code(e.code)]
        if transient:
            raise IntakeError(ErrorCode(transient[0].code), transient[0].message)
        if not result.documents and _maybe_half_written(result.errors, fetched, getattr(self.store, "grace_s", 0.0)):
            raise IntakeError(
                ErrorCode.FILE_INCOMPLETE,
                f"{item.display}: does not decode and changed {time.time() - (fetched.modified_at or 0):.0f} s ago; "
                "retried in case it is still being written",
            )
        if result.documents:
            return result
        first = (
            result.errors[0]
            if result.errors
            else ErrorEntry(source=item.display, code=ErrorCode.UNREADABLE.value, message="no document could be read")
        )
        return self.record_failure(
            item, ErrorCode(first.code), first.message, started=started, fetched=fetched, errors=result.errors
        )

    def _report(
        self, item: WorkItem, sid: str, result: pipeline.FileResult, documents: int, proposals: int, started: float
    ) -> None:
        for doc in result.documents:
            metrics.observe_document(doc)
        metrics.DOCUMENTS.labels("processed").inc(documents)
        metrics.OBJECTS.labels("processed").inc()
        for err in result.errors:
            metrics.ERRORS.labels(err.code).inc()
        total = time.perf_counter() - started
        metrics.STAGE_SECONDS.labels("total").observe(total)
        log.info(
            "processed %s: %d document(s), %d page error(s), %d proposal(s) in %.1f s",
            item.display, documents, len(result.errors), proposals, total,
            extra=self._extra(item, sid, seconds=round(total, 3), stage="done"),
        )  # fmt: skip

    def _commit(
        self,
        item: WorkItem,
        fetched: Fetched,
        result: pipeline.FileResult,
        image_keys: dict[tuple[int, int], str],
        sid: str,
        prefix: str,
        timings: dict[str, float],
        started: float,
    ) -> Outcome | tuple[list[DocumentRow], list[Proposal]]:
        """The one transaction of a read file: object, documents, errors, the re-match and the job, under the
        submission's lock (re-checking that no other worker finished it, or the same bytes, meanwhile)."""
        bucket, version = self.bucket_of(item), item.version
        with session_scope(self.engine) as s:
            repo.lock_submission(s, sid, origin=self.store.origin, bucket=bucket, prefix=prefix)
            obj = repo.find_object(s, bucket, item.key, version)
            if obj is not None and obj.status in repo.DONE_STATUSES and not item.force:
                return Outcome("skipped", sid, detail="finished by another worker meanwhile")
            if not item.force:
                copy = repo.find_processed_copy(s, fetched.sha256, exclude_id=obj.id if obj else None)
                if copy is not None and copy.submission_id == sid:
                    repo.record_object(
                        s, submission_id=sid, bucket=bucket, key=item.key, version=version, etag=fetched.etag,
                        size=fetched.size, sha256=fetched.sha256, status="duplicate", duplicate_of=copy.id,
                        pipeline_version=pipeline_version(),
                    )  # fmt: skip
                    repo.finish_job(s, item.job_id, "done", stage="store", seconds=time.perf_counter() - started)
                    metrics.OBJECTS.labels("duplicate").inc()
                    return Outcome("duplicate", sid, detail=f"same bytes as object {copy.id}")
            if obj is not None and item.force:
                repo.delete_object_documents(s, obj.id)
            obj = repo.record_object(
                s, submission_id=sid, bucket=bucket, key=item.key, version=version, etag=fetched.etag,
                size=fetched.size, sha256=fetched.sha256, status="processed", pipeline_version=pipeline_version(),
                error_code=result.errors[0].code if result.errors else None,
                error_message=result.errors[0].message if result.errors else None,
            )  # fmt: skip
            inserted = repo.save_documents(
                s, sid, result.documents, source_object_id=obj.id, image_keys=image_keys,
                pipeline_version=pipeline_version(),
            )  # fmt: skip
            repo.clear_errors(s, sid, item.display)
            repo.save_errors(s, sid, result.errors)
            with _timed("match", timings):
                proposals = self._rematch(s, sid)
            repo.refresh_submission_status(s, sid)
            repo.finish_job(s, item.job_id, "done", stage="match", seconds=time.perf_counter() - started)
        return inserted, proposals

    def _link_duplicate(
        self, item: WorkItem, fetched: Fetched, sid: str, prefix: str, bucket: str, version: str, started: float
    ) -> Outcome | None:
        """The same bytes were already read under another key: link to them instead of reading again."""
        with session_scope(self.engine) as s:
            obj = repo.find_object(s, bucket, item.key, version)
            copy = repo.find_processed_copy(s, fetched.sha256, exclude_id=obj.id if obj else None)
            if copy is None:
                return None
            repo.lock_submission(s, sid, origin=self.store.origin, bucket=bucket, prefix=prefix)
            obj = repo.record_object(
                s, submission_id=sid, bucket=bucket, key=item.key, version=version, etag=fetched.etag,
                size=fetched.size, sha256=fetched.sha256, status="duplicate", duplicate_of=copy.id,
                pipeline_version=copy.pipeline_version,
            )  # fmt: skip
            copied = 0
            proposals: list[Proposal] = []
            if copy.submission_id != sid:
                # another submission holds the same scan: it needs the documents too, without another OCR pass
                copied = len(repo.copy_documents(s, from_object_id=copy.id, to_submission_id=sid, to_object_id=obj.id))
                if copied:
                    proposals = self._rematch(s, sid)
            repo.refresh_submission_status(s, sid)
            repo.finish_job(s, item.job_id, "done", stage="store", seconds=time.perf_counter() - started)
        metrics.OBJECTS.labels("duplicate").inc()
        metrics.DOCUMENTS.labels("duplicate").inc(copied)
        log.info(
            "duplicate %s: same bytes as object %d (%s); linked, %d document(s) copied",
            item.display, copy.id, copy.key, copied, extra=self._extra(item, sid),
        )  # fmt: skip
        return Outcome("duplicate", sid, documents=copied, proposals=len(proposals), detail=f"of object {copy.id}")

    def _store_derived(self, sha256: str, pages: list[Any]) -> dict[tuple[int, int], str]:
        keys: dict[tuple[int, int], str] = {}
        for page in pages:
            part = page.part or 0
            ok, encoded = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if not ok:  # pragma: no cover - OpenCV failing to encode its own array
                continue
            name = f"{sha256}/p{page.page}{f'-{part}' if part else ''}.jpg"
            keys[(page.page, part)] = self.store.put_derived(name, encoded.tobytes())
        return keys

    def _rematch(self, session: Any, sid: str) -> list[Proposal]:
        """Check and match the whole submission (every document it has, from the database) and replace its
        findings and proposals; the stored documents are only read, so re-matching again changes nothing."""
        matched = pipeline.check_and_match(repo.load_documents(session, sid), self.propose)
        proposals = matched.proposals
        repo.replace_findings(session, sid, matched.findings)
        store_proposals(session, sid, proposals)
        best = max(proposals, key=lambda p: p.confidence) if proposals else None
        metrics.REMATCHES.labels(best.band if best else "none").inc()
        if best:
            metrics.MATCH_CONFIDENCE.labels(best.band).observe(best.confidence)
        return proposals

    def rematch(self, sid: str, *, job_id: str | None = None) -> Outcome:
        started = time.perf_counter()
        with session_scope(self.engine) as s:
            if repo.get_submission(s, sid) is None:
                return Outcome("ignored", sid, detail="no such submission")
            repo.lock_submission(s, sid)
            proposals = self._rematch(s, sid)
            if job_id:
                repo.start_job(s, job_id, kind="rematch_submission", submission_id=sid, worker_id=self.worker_id)
                repo.finish_job(s, job_id, "done", stage="match", seconds=time.perf_counter() - started)
        return Outcome("rematched", sid, proposals=len(proposals))

    def record_failure(
        self,
        item: WorkItem,
        code: ErrorCode,
        message: str,
        *,
        started: float,
        fetched: Fetched | None = None,
        errors: list[ErrorEntry] | None = None,
    ) -> Outcome:
        """A permanent error: record it against the object, the submission and the job; the message is acked."""
        bucket = self.bucket_of(item)
        sid, prefix = self.submission_of(item)
        with session_scope(self.engine) as s:
            repo.lock_submission(s, sid, origin=self.store.origin, bucket=bucket, prefix=prefix)
            repo.record_object(
                s, submission_id=sid, bucket=bucket, key=item.key, version=item.version,
                etag=fetched.etag if fetched else item.etag, size=fetched.size if fetched else item.size,
                sha256=fetched.sha256 if fetched else None, status="failed", error_code=code.value,
                error_message=message, pipeline_version=pipeline_version(),
            )  # fmt: skip
            repo.save_errors(s, sid, errors or [ErrorEntry(source=item.display, code=code.value, message=message)])
            repo.refresh_submission_status(s, sid)
            repo.finish_job(
                s, item.job_id, "failed", stage="read", error_code=code.value, error_message=message,
                seconds=time.perf_counter() - started,
            )  # fmt: skip
        metrics.OBJECTS.labels("failed").inc()
        metrics.ERRORS.labels(code.value).inc()
        log.warning(
            "failed %s: [%s] %s", item.display, code.value, message, extra=self._extra(item, sid, code=code.value)
        )
        return Outcome("failed", sid, error_code=code.value, detail=message)

    def record_transient(self, item: WorkItem, code: str, message: str, *, dead: bool) -> None:
        """Best effort (the database may be the thing that is down): note a retry, or the dead-lettering."""
        sid, prefix = self.submission_of(item)
        bucket = self.bucket_of(item)
        try:
            with session_scope(self.engine) as s:
                if dead and item.kind != "rematch_submission":
                    repo.lock_submission(s, sid, origin=self.store.origin, bucket=bucket, prefix=prefix)
                    repo.record_object(
                        s, submission_id=sid, bucket=bucket, key=item.key, version=item.version, etag=item.etag,
                        size=item.size, status="dead", error_code=code, error_message=message,
                    )  # fmt: skip
                    repo.save_errors(s, sid, [ErrorEntry(source=item.display, code=code, message=message)])
                if repo.get_job(s, item.job_id) is None:
                    repo.start_job(s, item.job_id, kind=item.kind, bucket=bucket, key=item.key, submission_id=sid)
                repo.finish_job(
                    s, item.job_id, "dead" if dead else "retrying", error_code=code, error_message=message,
                    dead_lettered=dead,
                )  # fmt: skip
        except Exception as exc:
            log.warning("could not record %s for %s: %s", code, item.display, exc)
        metrics.OBJECTS.labels("dead_lettered" if dead else "retried").inc()
        metrics.ERRORS.labels(code).inc()


# what a file cut short reads as
_DECODE_CODES = frozenset({ErrorCode.CORRUPT_IMAGE.value, ErrorCode.CORRUPT_PDF.value, ErrorCode.EMPTY_FILE.value})


def _maybe_half_written(errors: list[ErrorEntry], fetched: Fetched, grace_s: float) -> bool:
    """An inbox file that does not decode and changed within the store's grace period: retry rather than
    condemn it (a copy that paused longer than the watcher's settle time). S3 objects are written whole and a
    backfill's archive is history: their stores have no grace."""
    if fetched.modified_at is None or not errors or any(e.code not in _DECODE_CODES for e in errors):
        return False
    return time.time() - fetched.modified_at < grace_s


def _permanent_code(code: str) -> bool:
    try:
        return is_permanent(code)
    except ValueError:  # a code this version does not know: treat as a bug, retry
        return False
