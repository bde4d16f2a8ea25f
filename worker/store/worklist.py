"""What the review app derives from each submission so people can find it: why it needs a person outside the
review queue (the exceptions worklist), and the keys it can be searched by.

Both are derived state, recomputed from the submission's documents, errors, proposals and decisions whenever
the submission row changes (`seen_updated_at` remembers which version they were computed from); nothing here
is ever the only copy of anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from worker.store.db import Base
from worker.store.results import SubmissionRow, utcnow

# what changed since the worklist last looked: a range scan on the time each submission row last changed
SUBMISSIONS_BY_UPDATE = Index("ix_submissions_updated_at", SubmissionRow.__table__.c.updated_at)


class ReviewExceptionRow(Base):
    """One row per submission the review app has looked at; `open` when a person must act on it outside the
    review queue (no match, only unlikely candidates, an unknown page, a failed file, a conflict between
    documents, or every candidate judged wrong)."""

    __tablename__ = "review_exceptions"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    open: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # the submission's updated_at these rows were derived from: a different value means derive again
    seen_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SearchKeyRow(Base):
    """A normalised search key of a submission: an ID number, a folded name, a serial, a sheet/parcel
    reference, an address, a case number (kind says which)."""

    __tablename__ = "review_search_keys"
    __table_args__ = (Index("ix_review_search_keys_kind_key", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(200))


class ExportBatchRow(Base):
    """One export handed to VBDLIS (a download marked as sent, or `intake export`)."""

    __tablename__ = "export_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_name: Mapped[str] = mapped_column(String(80))
    format: Mapped[str] = mapped_column(String(8))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ExportSentRow(Base):
    """A change already sent: its stable id (a hash of what it changes), so it is never sent twice."""

    __tablename__ = "export_sent"

    change_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("export_batches.id"), index=True)
    submission_id: Mapped[str] = mapped_column(String(200), index=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SecondReviewRow(Base):
    """A second reviewer's blind verdict on a sampled decision (quality control): did they agree?"""

    __tablename__ = "second_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), unique=True)
    submission_id: Mapped[str] = mapped_column(String(200), index=True)
    first_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    second_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(10))
    parcel_id: Mapped[str | None] = mapped_column(String(64))
    agrees: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


WORKLIST_TABLES = (
    ReviewExceptionRow.__table__,
    SearchKeyRow.__table__,
    ExportBatchRow.__table__,
    ExportSentRow.__table__,
    SecondReviewRow.__table__,
)
