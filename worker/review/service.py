"""The review queue, independent of HTTP: what is waiting, filters, counts, leases (take next, take, give
back) and the audit log listing. Decisions are in decisions.py, the item view in item.py, exceptions and
search in worklist.py and search.py, export in export.py, uploads in uploads.py. Every function takes an open
SQLAlchemy session; the caller commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from worker.review.errors import ReviewError, get_submission
from worker.review.item import audit_dict
from worker.store.results import DocumentRow, ProposalRow, SubmissionRow, utcnow
from worker.store.review import (
    CLOSING_ACTIONS,
    AuditRow,
    DecisionRow,
    ReviewLeaseRow,
    ReviewQueueRow,
    ReviewThresholds,
    UserRow,
    acquire_lease,
    append_audit,
    audit_sampled,
    aware,
    lease_holder,
    release_lease,
    release_leases,
)
from worker.store.review import sync_queue as store_sync_queue

log = logging.getLogger(__name__)

__all__ = ["ReviewError"]

# an item a person must decide: the review band, an auto-accept drawn for audit, or one an admin reopened
REVIEWABLE_REASONS = ("review", "audit_sample", "reopened")
AGE_FILTERS = ("lt1d", "1to7d", "gt7d")
STATUS_FILTERS = ("waiting", "in_review", "decided", "all")


# --- queue ------------------------------------------------------------------------------------------------


@dataclass
class QueueFilter:
    band: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    commune: str | None = None
    doc_type: str | None = None
    age: str | None = None
    status: str = "waiting"
    limit: int = 100
    offset: int = 0


@dataclass
class QueueItem:
    submission_id: str
    created_at: datetime
    band: str | None
    confidence: float | None
    reason: str
    commune_code: str | None
    review_status: str
    leased_by: str | None
    lease_expires_at: datetime | None
    doc_types: list[str] = field(default_factory=list)
    top_parcel_id: str | None = None
    candidates: int = 0


def _queue_base(now: datetime) -> Any:
    live_lease = and_(ReviewLeaseRow.submission_id == SubmissionRow.id, ReviewLeaseRow.expires_at > now)
    return (
        select(SubmissionRow, ReviewQueueRow.reason, ReviewLeaseRow.expires_at, UserRow.name)
        .join(ReviewQueueRow, ReviewQueueRow.submission_id == SubmissionRow.id)
        .outerjoin(ReviewLeaseRow, live_lease)
        .outerjoin(UserRow, UserRow.id == ReviewLeaseRow.user_id)
        # a submission re-matched into the review band after it was "not sampled" still needs a human
        .where(or_(ReviewQueueRow.reason.in_(REVIEWABLE_REASONS), SubmissionRow.best_band == "review"))
    )


def _apply_filter(stmt: Any, f: QueueFilter, now: datetime) -> Any:
    if f.band:
        stmt = stmt.where(SubmissionRow.best_band == f.band)
    if f.min_confidence is not None:
        stmt = stmt.where(SubmissionRow.best_confidence >= f.min_confidence)
    if f.max_confidence is not None:
        stmt = stmt.where(SubmissionRow.best_confidence <= f.max_confidence)
    if f.commune:
        stmt = stmt.where(SubmissionRow.commune_code == f.commune)
    if f.doc_type:
        stmt = stmt.where(
            exists().where(DocumentRow.submission_id == SubmissionRow.id, DocumentRow.doc_type == f.doc_type)
        )
    if f.age == "lt1d":
        stmt = stmt.where(SubmissionRow.created_at >= now - timedelta(days=1))
    elif f.age == "1to7d":
        stmt = stmt.where(
            SubmissionRow.created_at < now - timedelta(days=1), SubmissionRow.created_at >= now - timedelta(days=7)
        )
    elif f.age == "gt7d":
        stmt = stmt.where(SubmissionRow.created_at < now - timedelta(days=7))
    if f.status == "waiting":
        stmt = stmt.where(SubmissionRow.review_status != "decided", ReviewLeaseRow.submission_id.is_(None))
    elif f.status == "in_review":
        stmt = stmt.where(SubmissionRow.review_status != "decided", ReviewLeaseRow.submission_id.is_not(None))
    elif f.status == "decided":
        stmt = stmt.where(SubmissionRow.review_status == "decided")
    return stmt


def list_queue(session: Session, f: QueueFilter) -> tuple[list[QueueItem], int]:
    now = utcnow()
    stmt = _apply_filter(_queue_base(now), f, now)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = (SubmissionRow.updated_at.desc(),) if f.status == "decided" else (SubmissionRow.created_at,)
    rows = session.execute(stmt.order_by(*order, SubmissionRow.id).limit(f.limit).offset(f.offset)).all()
    items = [
        QueueItem(
            submission_id=sub.id,
            created_at=aware(sub.created_at) or now,
            band=sub.best_band,
            confidence=sub.best_confidence,
            reason=reason,
            commune_code=sub.commune_code,
            review_status=sub.review_status,
            leased_by=lease_user,
            lease_expires_at=aware(lease_expires),
        )
        for sub, reason, lease_expires, lease_user in rows
    ]
    ids = [it.submission_id for it in items]
    if ids:
        types: dict[str, set[str]] = {}
        for sid, doc_type in session.execute(
            select(DocumentRow.submission_id, DocumentRow.doc_type).where(DocumentRow.submission_id.in_(ids))
        ):
            types.setdefault(sid, set()).add(doc_type)
        tops: dict[str, tuple[str, int]] = {}
        for sid, rank, parcel_id in session.execute(
            select(ProposalRow.submission_id, ProposalRow.rank, ProposalRow.parcel_id).where(
                ProposalRow.submission_id.in_(ids)
            )
        ):
            best = tops.get(sid)
            count = (best[1] if best else 0) + 1
            tops[sid] = (parcel_id if rank == 1 or best is None else best[0], count)
        for it in items:
            it.doc_types = sorted(types.get(it.submission_id, ()))
            if top := tops.get(it.submission_id):
                it.top_parcel_id, it.candidates = top
    return items, int(total)


def queue_counts(session: Session) -> dict[str, int]:
    """How many items are waiting, being reviewed, decided (today and in all), split by band."""
    now = utcnow()
    base = _queue_base(now).subquery()
    rows = session.execute(
        select(base.c.review_status, base.c.expires_at.is_not(None), base.c.best_band, func.count()).group_by(
            base.c.review_status, base.c.expires_at.is_not(None), base.c.best_band
        )
    ).all()
    counts = {"waiting": 0, "in_review": 0, "decided": 0, "band_review": 0, "band_auto_accept": 0}
    for status, leased, band, n in rows:
        if status == "decided":
            counts["decided"] += n
        else:
            counts["in_review" if leased else "waiting"] += n
            counts[f"band_{band}"] = counts.get(f"band_{band}", 0) + n
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    counts["decided_today"] = (
        session.scalar(
            select(func.count())
            .select_from(DecisionRow)
            .where(
                DecisionRow.action.in_(CLOSING_ACTIONS),
                DecisionRow.undone_at.is_(None),
                DecisionRow.decided_at >= midnight,
            )
        )
        or 0
    )
    return counts


def sync_queue(session: Session, thresholds: ReviewThresholds) -> int:
    """Enqueue newly matched submissions (review band always; auto_accept when audit-sampled)."""
    return store_sync_queue(session, thresholds.audit_sample_rate)


def take_next(
    session: Session,
    user: UserRow,
    f: QueueFilter,
    ttl: timedelta,
    *,
    exclude: Iterable[str] = (),
) -> str | None:
    """Give the user an exclusive lease on the oldest waiting item that matches the filter.

    The user's other leases are released first (one item at a time). Candidates are tried in order: when
    another reviewer wins the race for one, the next is tried, so two reviewers never get the same item."""
    release_leases(session, user.id)
    session.flush()
    wanted = QueueFilter(**{**f.__dict__, "status": "waiting"})
    excluded = set(exclude)
    for _ in range(50):  # each round fetches a fresh batch; a lost race only costs one candidate
        candidates = waiting_ids(session, wanted, exclude=excluded, limit=20)
        if not candidates:
            return None
        for sid in candidates:
            if acquire_lease(session, sid, user.id, ttl):
                # the batch may predate another reviewer's decision (whose lease went with it): with the
                # lease held, a fresh read of the status is authoritative
                status = session.scalar(select(SubmissionRow.review_status).where(SubmissionRow.id == sid))
                if status != "decided":
                    append_audit(session, user=user, action="lease", submission_id=sid)
                    return sid
                release_lease(session, sid, user.id)
            excluded.add(sid)
    return None


def waiting_ids(session: Session, f: QueueFilter, *, exclude: Iterable[str] = (), limit: int = 20) -> list[str]:
    """Ids of the oldest waiting items matching the filter (no lease, not decided)."""
    now = utcnow()
    stmt = _apply_filter(_queue_base(now), QueueFilter(**{**f.__dict__, "status": "waiting"}), now)
    excluded = list(exclude)
    if excluded:
        stmt = stmt.where(SubmissionRow.id.not_in(excluded))
    stmt = stmt.with_only_columns(SubmissionRow.id).order_by(SubmissionRow.created_at, SubmissionRow.id).limit(limit)
    return list(session.scalars(stmt))


def take_item(session: Session, user: UserRow, submission_id: str, ttl: timedelta) -> datetime:
    sub = get_submission(session, submission_id)
    if sub.review_status == "decided":
        raise ReviewError("already_decided")
    release_leases(session, user.id, except_submission=submission_id)
    if not acquire_lease(session, submission_id, user.id, ttl):
        raise ReviewError("leased_by_other")
    append_audit(session, user=user, action="lease", submission_id=submission_id)
    holder = lease_holder(session, submission_id)
    assert holder is not None
    return holder[1]


def release_item(session: Session, user: UserRow, submission_id: str) -> None:
    if not release_lease(session, submission_id, user.id):
        raise ReviewError("lease_not_held", 409)  # no audit row for a lease someone else holds
    append_audit(session, user=user, action="release", submission_id=submission_id)


# --- audit ------------------------------------------------------------------------------------------------


def list_audit(
    session: Session, *, user: str | None = None, action: str | None = None, limit: int = 200, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = select(AuditRow)
    if user:
        stmt = stmt.where(AuditRow.user_name == user)
    if action:
        stmt = stmt.where(AuditRow.action == action)
    rows = session.scalars(stmt.order_by(AuditRow.id.desc()).limit(limit).offset(offset))
    return [audit_dict(r) for r in rows]


def is_sampled(submission_id: str, rate: float) -> bool:
    return audit_sampled(submission_id, rate)
