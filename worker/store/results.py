"""Processing results: submissions, the source objects they came from, documents (each with its fields, in
its payload), the submission's findings, proposals, errors, jobs.

Identity rules that make every write idempotent (at-least-once delivery is the norm):
- a source object is (bucket, key, version_id); the inbox uses bucket "" and version_id "";
- a document is (submission_id, sha256 of the original bytes, page, part);
- a document's row is written once and never changed; what the checks between a submission's documents find is
  stored beside them (`submission_findings`) and, like the proposals, replaced as a whole at each re-match."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from worker.store.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class SubmissionRow(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    origin: Mapped[str] = mapped_column(String(20), default="inbox")  # inbox | s3 | cli | upload | backfill
    bucket: Mapped[str] = mapped_column(String(255), default="")
    prefix: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)  # received|processed|failed
    commune_code: Mapped[str | None] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    matched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # review state: pending | in_review | decided; the best proposal's band drives the review queue
    review_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    best_band: Mapped[str | None] = mapped_column(String(20), index=True)
    best_confidence: Mapped[float | None] = mapped_column(Float)


class SourceObjectRow(Base):
    __tablename__ = "source_objects"
    __table_args__ = (UniqueConstraint("bucket", "key", "version_id", name="uq_source_object"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(255), default="")
    key: Mapped[str] = mapped_column(String(1024))
    version_id: Mapped[str] = mapped_column(String(255), default="")
    etag: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    # set when the bytes were already processed under another key: linked, not re-processed
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("source_objects.id"))
    status: Mapped[str] = mapped_column(String(20), default="received")  # received|processed|failed|duplicate
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    pipeline_version: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("submission_id", "sha256", "page", "part", name="uq_document"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    source_object_id: Mapped[int | None] = mapped_column(ForeignKey("source_objects.id"))
    source: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    page: Mapped[int] = mapped_column(Integer, default=1)
    part: Mapped[int] = mapped_column(Integer, default=0)  # 0 = the whole page
    doc_type: Mapped[str] = mapped_column(String(20), index=True)
    doc_type_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    orientation_deg: Mapped[int] = mapped_column(Integer, default=0)
    skew_deg: Mapped[float] = mapped_column(Float, default=0.0)
    quality_score: Mapped[float | None] = mapped_column(Float)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the full models.Document as JSON
    image_key: Mapped[str | None] = mapped_column(String(1024))  # derived normalised image for review
    pipeline_version: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubmissionFindingsRow(Base):
    """The checks between a submission's documents, as of its last re-match (a models.SubmissionFindings)."""

    __tablename__ = "submission_findings"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ProposalRow(Base):
    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("submission_id", "rank", name="uq_proposal_rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)  # 1 = best
    parcel_id: Mapped[str] = mapped_column(String(64), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(80))
    confidence: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(20), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the full models.Proposal as JSON
    model_version: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ErrorRow(Base):
    """A per-file failure recorded against its submission (stable code + human reason)."""

    __tablename__ = "document_errors"
    __table_args__ = (UniqueConstraint("submission_id", "source", "code", name="uq_document_error"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    source: Mapped[str] = mapped_column(String(1024))
    code: Mapped[str] = mapped_column(String(40), index=True)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobRow(Base):
    """One unit of queued work (usually one source object) and where it got to."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # queue message id / idempotency key
    kind: Mapped[str] = mapped_column(String(30), default="process_object")
    bucket: Mapped[str] = mapped_column(String(255), default="")
    key: Mapped[str] = mapped_column(String(1024), default="")
    submission_id: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)  # queued|running|done|failed|dead
    stage: Mapped[str | None] = mapped_column(String(20))  # load|normalise|ocr|extract|match|store
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40), index=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(120))
    backfill_id: Mapped[str | None] = mapped_column(String(64), index=True)
    seconds: Mapped[float | None] = mapped_column(Float)
    dead_lettered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
