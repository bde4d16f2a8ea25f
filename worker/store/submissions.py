"""Repository functions on the results tables (worker/store/results.py), shared by the queue worker, the
backfill command and the review app.

Every write here is idempotent, because at-least-once delivery is the norm:
- a source object is identified by (bucket, key, version): ``object_version`` turns the S3 version id, or
  failing that the ETag (unversioned buckets), or the inbox file's sha256 into the stored version string;
- a document by (submission, sha256 of the original bytes, page, part): ``save_documents`` skips documents
  that already exist;
- a document's row is written once and never changed afterwards;
- a submission's findings and its proposals are replaced as a whole at each re-match (``replace_findings``,
  ``replace_proposals``).

Concurrency: call ``lock_submission`` first in any transaction that adds documents to a submission or
re-matches it. It creates the submission row if needed and holds a row lock (PostgreSQL ``FOR UPDATE``; on
SQLite its INSERT takes the database write lock), so two workers handling two files of one submission
serialise, and the second re-match sees the first one's documents.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.document import Document, ErrorEntry
from models.findings import SubmissionFindings
from models.proposal import Proposal
from worker.store.results import (
    DocumentRow,
    ErrorRow,
    JobRow,
    ProposalRow,
    SourceObjectRow,
    SubmissionFindingsRow,
    SubmissionRow,
    utcnow,
)

log = logging.getLogger(__name__)

# object statuses after which the object needs no more work (unless forced)
DONE_STATUSES = frozenset({"processed", "duplicate", "failed"})
JOB_STATUSES = ("queued", "running", "done", "failed", "retrying", "dead")


# ------------------------------------------------------------------------------------------- identity


def object_version(version_id: str | None = None, etag: str | None = None, sha256: str | None = None) -> str:
    """The version part of an object's identity: S3 version id, else ETag, else content hash."""
    if version_id and version_id != "null":  # "null" is S3's version id in a never-versioned bucket
        return version_id
    if etag:
        return "etag:" + etag.strip('"')
    if sha256:
        return "sha256:" + sha256
    return ""


def object_job_id(bucket: str | None, key: str, version: str) -> str:
    """A stable job id for one object version: redeliveries and redrives update the same job row."""
    return hashlib.sha1(f"{bucket or ''}\x00{key}\x00{version}".encode()).hexdigest()


# ------------------------------------------------------------------------------------------- submissions


def lock_submission(
    session: Session, submission_id: str, *, origin: str = "inbox", bucket: str = "", prefix: str = ""
) -> SubmissionRow:
    """Create the submission if needed and lock it for the rest of the transaction (see module docstring)."""
    dialect = session.get_bind().dialect.name
    values = {
        "id": submission_id,
        "origin": origin,
        "bucket": bucket or "",
        "prefix": prefix,
        "status": "received",
        "review_status": "pending",
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    if dialect == "postgresql":
        session.execute(pg_insert(SubmissionRow).values(**values).on_conflict_do_nothing(index_elements=["id"]))
        row = session.execute(
            select(SubmissionRow).where(SubmissionRow.id == submission_id).with_for_update()
        ).scalar_one()
    elif dialect == "sqlite":
        session.execute(sqlite_insert(SubmissionRow).values(**values).on_conflict_do_nothing(index_elements=["id"]))
        row = session.execute(select(SubmissionRow).where(SubmissionRow.id == submission_id)).scalar_one()
    else:  # pragma: no cover - other databases: best effort
        found = session.get(SubmissionRow, submission_id, with_for_update=True)
        if found is None:
            found = SubmissionRow(**values)
            session.add(found)
            session.flush()
        row = found
    session.refresh(row)
    return row


def get_submission(session: Session, submission_id: str) -> SubmissionRow | None:
    return session.get(SubmissionRow, submission_id)


# ------------------------------------------------------------------------------------------- source objects


def find_object(session: Session, bucket: str | None, key: str, version: str) -> SourceObjectRow | None:
    return session.execute(
        select(SourceObjectRow).where(
            SourceObjectRow.bucket == (bucket or ""),
            SourceObjectRow.key == key,
            SourceObjectRow.version_id == version,
        )
    ).scalar_one_or_none()


def is_object_done(
    session: Session, bucket: str | None, key: str, *, version_id: str | None = None, etag: str | None = None
) -> bool:
    """True if this object (same key, and same version or same ETag) was already handled to the end.
    The backfill command's resume check: a listing may carry an ETag where the live event had a version."""
    candidates = {object_version(version_id=version_id), object_version(etag=etag)} - {""}
    if not candidates:
        return False
    query = select(SourceObjectRow.status, SourceObjectRow.etag, SourceObjectRow.version_id).where(
        SourceObjectRow.bucket == (bucket or ""), SourceObjectRow.key == key
    )
    for status, row_etag, row_version in session.execute(query):
        if status not in DONE_STATUSES:
            continue
        if row_version in candidates or (etag and row_etag and row_etag.strip('"') == etag.strip('"')):
            return True
    return False


def find_processed_copy(session: Session, sha256: str, *, exclude_id: int | None = None) -> SourceObjectRow | None:
    """An object with the same bytes whose documents are stored (the original, never another duplicate)."""
    query = (
        select(SourceObjectRow)
        .where(SourceObjectRow.sha256 == sha256, SourceObjectRow.status == "processed")
        .order_by(SourceObjectRow.id)
    )
    if exclude_id is not None:
        query = query.where(SourceObjectRow.id != exclude_id)
    return session.execute(query.limit(1)).scalar_one_or_none()


def record_object(
    session: Session,
    *,
    submission_id: str,
    bucket: str | None,
    key: str,
    version: str,
    etag: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    status: str = "received",
    error_code: str | None = None,
    error_message: str | None = None,
    duplicate_of: int | None = None,
    pipeline_version: str | None = None,
) -> SourceObjectRow:
    """Insert or update the object's row (its identity never changes; its status moves forward)."""
    row = find_object(session, bucket, key, version)
    if row is None:
        row = SourceObjectRow(bucket=bucket or "", key=key, version_id=version, submission_id=submission_id)
        session.add(row)
    row.etag = etag.strip('"') if etag else row.etag
    row.size = size if size is not None else row.size
    row.sha256 = sha256 or row.sha256
    row.status = status
    row.error_code = error_code
    row.error_message = error_message
    row.duplicate_of = duplicate_of
    row.pipeline_version = pipeline_version or row.pipeline_version
    if status in DONE_STATUSES:
        row.processed_at = utcnow()
    session.flush()
    return row


# ------------------------------------------------------------------------------------------- documents


def _part(doc: Document) -> int:
    return doc.part or 0


def save_documents(
    session: Session,
    submission_id: str,
    documents: Sequence[Document],
    *,
    source_object_id: int | None = None,
    image_keys: Mapping[tuple[int, int], str] | None = None,
    pipeline_version: str | None = None,
) -> list[DocumentRow]:
    """Store documents (their fields are in the payload), skipping any (sha256, page, part) the submission already has.
    Returns the rows actually inserted. Call under ``lock_submission``."""
    existing = {
        (sha, page, part)
        for sha, page, part in session.execute(
            select(DocumentRow.sha256, DocumentRow.page, DocumentRow.part).where(
                DocumentRow.submission_id == submission_id
            )
        )
    }
    image_keys = image_keys or {}
    inserted: list[DocumentRow] = []
    for doc in documents:
        identity = (doc.sha256, doc.page, _part(doc))
        if identity in existing:
            continue
        existing.add(identity)
        row = DocumentRow(
            submission_id=submission_id,
            source_object_id=source_object_id,
            source=doc.source,
            sha256=doc.sha256,
            page=doc.page,
            part=_part(doc),
            doc_type=doc.doc_type,
            doc_type_confidence=doc.doc_type_confidence,
            orientation_deg=doc.orientation_deg,
            skew_deg=doc.skew_deg,
            quality_score=doc.quality_score,
            warnings=list(doc.warnings),
            payload=doc.model_dump(mode="json"),
            image_key=image_keys.get((doc.page, _part(doc))),
            pipeline_version=pipeline_version,
        )
        session.add(row)
        session.flush()
        inserted.append(row)
    return inserted


def copy_documents(
    session: Session, *, from_object_id: int, to_submission_id: str, to_object_id: int
) -> list[DocumentRow]:
    """A duplicate upload into another submission: reuse the original's read documents instead of
    re-reading the file. Call under ``lock_submission(to_submission_id)``."""
    rows = session.execute(
        select(DocumentRow).where(DocumentRow.source_object_id == from_object_id).order_by(DocumentRow.id)
    ).scalars()
    copies: list[Document] = []
    image_keys: dict[tuple[int, int], str] = {}
    version = None
    for row in rows:
        copies.append(Document.model_validate(row.payload))
        if row.image_key:
            image_keys[(row.page, row.part)] = row.image_key
        version = row.pipeline_version
    return save_documents(
        session,
        to_submission_id,
        copies,
        source_object_id=to_object_id,
        image_keys=image_keys,
        pipeline_version=version,
    )


def delete_object_documents(session: Session, source_object_id: int) -> int:
    """Forget what one object produced (re-processing with a new pipeline version replaces it)."""
    ids = list(
        session.execute(select(DocumentRow.id).where(DocumentRow.source_object_id == source_object_id)).scalars()
    )
    if not ids:
        return 0
    session.execute(delete(DocumentRow).where(DocumentRow.id.in_(ids)))
    return len(ids)


def load_documents(session: Session, submission_id: str) -> list[Document]:
    """Every document of a submission, in arrival order (what a re-match sees)."""
    rows = session.execute(
        select(DocumentRow.payload).where(DocumentRow.submission_id == submission_id).order_by(DocumentRow.id)
    ).scalars()
    return [Document.model_validate(payload) for payload in rows]


def replace_findings(session: Session, submission_id: str, findings: SubmissionFindings) -> None:
    """Store what the checks between the submission's documents found, replacing the last re-match's."""
    row = session.get(SubmissionFindingsRow, submission_id)
    payload = findings.model_dump(mode="json")
    if row is None:
        session.add(SubmissionFindingsRow(submission_id=submission_id, payload=payload))
    elif row.payload != payload:
        row.payload = payload
    session.flush()


def load_findings(session: Session, submission_id: str) -> SubmissionFindings:
    """The findings of the submission's last re-match (none before its first)."""
    row = session.get(SubmissionFindingsRow, submission_id)
    return SubmissionFindings.model_validate(row.payload) if row is not None else SubmissionFindings()


def save_errors(session: Session, submission_id: str, errors: Iterable[ErrorEntry]) -> int:
    """Record per-file failures; the same (source, code) twice is stored once."""
    seen = {
        (source, code)
        for source, code in session.execute(
            select(ErrorRow.source, ErrorRow.code).where(ErrorRow.submission_id == submission_id)
        )
    }
    added = 0
    for err in errors:
        identity = (err.source[:1024], err.code)
        if identity in seen:
            continue
        seen.add(identity)
        session.add(ErrorRow(submission_id=submission_id, source=err.source[:1024], code=err.code, message=err.message))
        added += 1
    session.flush()
    return added


def clear_errors(session: Session, submission_id: str, source: str) -> int:
    """Forget the errors recorded for one file (and its pages) once it has been read successfully."""
    result = session.execute(
        delete(ErrorRow).where(
            ErrorRow.submission_id == submission_id,
            (ErrorRow.source == source) | ErrorRow.source.startswith(source + "#", autoescape=True),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def save_file_result(
    session: Session,
    submission_id: str,
    *,
    key: str,
    documents: Sequence[Document],
    errors: Sequence[ErrorEntry] = (),
    bucket: str | None = "",
    version: str = "",
    etag: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    image_keys: Mapping[tuple[int, int], str] | None = None,
    pipeline_version: str | None = None,
    origin: str = "inbox",
    prefix: str = "",
) -> tuple[SourceObjectRow, list[DocumentRow]]:
    """Everything one read file produced, in the caller's transaction: the submission (locked), the object
    (processed, or failed with the first error's code when no document came out), its documents and errors.
    Idempotent; re-matching is the caller's next step (the worker does it in the same transaction)."""
    lock_submission(session, submission_id, origin=origin, bucket=bucket or "", prefix=prefix)
    first = errors[0] if errors else None
    obj = record_object(
        session,
        submission_id=submission_id,
        bucket=bucket,
        key=key,
        version=version,
        etag=etag,
        size=size,
        sha256=sha256 or (documents[0].sha256 if documents else None),
        status="processed" if documents else "failed",
        error_code=first.code if first else None,
        error_message=first.message if first else None,
        pipeline_version=pipeline_version,
    )
    inserted = save_documents(
        session,
        submission_id,
        documents,
        source_object_id=obj.id,
        image_keys=image_keys,
        pipeline_version=pipeline_version,
    )
    save_errors(session, submission_id, errors)
    refresh_submission_status(session, submission_id)
    return obj, inserted


# ------------------------------------------------------------------------------------------- proposals


def proposal_row(submission_id: str, rank: int, proposal: Proposal, *, model_version: str | None = None) -> ProposalRow:
    """The stored form of one ranked proposal."""
    return ProposalRow(
        submission_id=submission_id,
        rank=rank,
        parcel_id=proposal.parcel_id,
        owner_id=proposal.owner_id,
        confidence=proposal.confidence,
        band=proposal.band,
        payload=proposal.model_dump(mode="json"),
        model_version=proposal.model_version or model_version,
    )


def replace_proposals(
    session: Session, submission_id: str, proposals: Sequence[Proposal], *, model_version: str | None = None
) -> SubmissionRow:
    """Swap the submission's proposals for a new ranked list and update its summary columns.
    Review decisions keep their own snapshot of the candidates, so replacing proposals loses nothing; what a
    re-match means for a decided submission is review policy, applied by the caller
    (worker.intake.processor.store_proposals)."""
    session.execute(delete(ProposalRow).where(ProposalRow.submission_id == submission_id))
    session.flush()
    ranked = sorted(proposals, key=lambda p: p.confidence, reverse=True)
    for rank, proposal in enumerate(ranked, start=1):
        session.add(proposal_row(submission_id, rank, proposal, model_version=model_version))
    submission = session.get(SubmissionRow, submission_id)
    if submission is None:
        raise LookupError(f"submission {submission_id!r} does not exist; call lock_submission first")
    submission.matched_at = utcnow()
    submission.best_band = ranked[0].band if ranked else None
    submission.best_confidence = ranked[0].confidence if ranked else None
    session.flush()
    return submission


def load_proposals(session: Session, submission_id: str) -> list[Proposal]:
    rows = session.execute(
        select(ProposalRow.payload).where(ProposalRow.submission_id == submission_id).order_by(ProposalRow.rank)
    ).scalars()
    return [Proposal.model_validate(payload) for payload in rows]


def refresh_submission_status(session: Session, submission_id: str) -> str:
    """processed if any of its objects produced documents; failed if every object failed; else received."""
    statuses = set(
        session.execute(select(SourceObjectRow.status).where(SourceObjectRow.submission_id == submission_id)).scalars()
    )
    if statuses & {"processed", "duplicate"}:
        status = "processed"
    elif statuses and statuses <= {"failed"}:
        status = "failed"
    else:
        status = "received"
    session.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id).values(status=status))
    return status


# ------------------------------------------------------------------------------------------- jobs


def start_job(
    session: Session,
    job_id: str,
    *,
    kind: str = "process_object",
    bucket: str | None = "",
    key: str = "",
    submission_id: str | None = None,
    worker_id: str | None = None,
    attempts: int | None = None,
    backfill_id: str | None = None,
    stage: str | None = "fetch",
) -> JobRow:
    """Mark a job running (creating it if needed). ``attempts`` is the queue's receive count when known."""
    job = session.get(JobRow, job_id)
    if job is None:
        job = JobRow(id=job_id, kind=kind, bucket=bucket or "", key=key, attempts=0)
        session.add(job)
    job.submission_id = submission_id or job.submission_id
    job.backfill_id = backfill_id or job.backfill_id
    job.status = "running"
    job.stage = stage
    job.worker_id = worker_id
    job.attempts = attempts if attempts is not None else (job.attempts or 0) + 1
    job.started_at = utcnow()
    job.finished_at = None
    session.flush()
    return job


def finish_job(
    session: Session,
    job_id: str,
    status: str,
    *,
    stage: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    seconds: float | None = None,
    dead_lettered: bool | None = None,
) -> JobRow | None:
    """Record where a job ended: done | failed (permanent error) | retrying (transient) | dead."""
    job = session.get(JobRow, job_id)
    if job is None:
        return None
    job.status = status
    if stage is not None:
        job.stage = stage
    job.error_code = error_code
    job.error_message = error_message[:4000] if error_message else None
    job.seconds = seconds
    if dead_lettered is not None:
        job.dead_lettered = dead_lettered
    job.finished_at = utcnow()
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> JobRow | None:
    return session.get(JobRow, job_id)


def job_counts(session: Session) -> dict[str, int]:
    return {
        status: count
        for status, count in session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
    }


def error_counts(session: Session) -> dict[str, int]:
    """Jobs by error code (failed, retrying and dead jobs), for `intake status`."""
    rows = session.execute(
        select(JobRow.error_code, func.count()).where(JobRow.error_code.is_not(None)).group_by(JobRow.error_code)
    ).all()
    return {str(code): count for code, count in rows}


def object_counts(session: Session) -> dict[str, int]:
    return {
        status: count
        for status, count in session.execute(
            select(SourceObjectRow.status, func.count()).group_by(SourceObjectRow.status)
        ).all()
    }


def document_count(session: Session, submission_id: str | None = None) -> int:
    query = select(func.count()).select_from(DocumentRow)
    if submission_id is not None:
        query = query.where(DocumentRow.submission_id == submission_id)
    return int(session.execute(query).scalar_one())


def oldest_unfinished_job(session: Session) -> datetime | None:
    return session.execute(
        select(func.min(JobRow.created_at)).where(JobRow.status.in_(("queued", "running", "retrying")))
    ).scalar_one()
