"""What the review pages and the JSON API do, independent of HTTP: queue, leases, decisions, undo, export,
uploads. Every function takes an open SQLAlchemy session; the caller commits."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from models.document import Document
from models.proposal import Proposal
from models.settings import Settings
from worker.review.diff import Segment, char_diff, normalise_value
from worker.store.results import (
    DocumentRow,
    ErrorRow,
    JobRow,
    ProposalRow,
    SourceObjectRow,
    SubmissionRow,
    utcnow,
)
from worker.store.review import (
    CLOSING_ACTIONS,
    AuditRow,
    DecisionRow,
    ReviewLeaseRow,
    ReviewQueueRow,
    ReviewThresholds,
    UploadRow,
    UserRow,
    acquire_lease,
    append_audit,
    audit_sampled,
    aware,
    lease_holder,
    release_lease,
    release_leases,
    standing_decision,
)
from worker.store.review import sync_queue as store_sync_queue
from worker.vntext import clean

log = logging.getLogger(__name__)

REVIEWABLE_REASONS = ("review", "audit_sample")
UPLOAD_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".pdf", ".webp", ".bmp"})
MAX_UPLOAD_FILES = 50
MAX_VALUE_LENGTH = 500
MAX_NOTE_LENGTH = 2000
AGE_FILTERS = ("lt1d", "1to7d", "gt7d")
STATUS_FILTERS = ("waiting", "in_review", "decided", "all")


class ReviewError(Exception):
    """A refused request; `key` is an i18n message key, `status` the HTTP status the routes answer with."""

    def __init__(self, key: str, status: int = 409, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.params = params


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
    sub = _submission(session, submission_id)
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


# --- item -------------------------------------------------------------------------------------------------


def _submission(session: Session, submission_id: str) -> SubmissionRow:
    sub = session.get(SubmissionRow, submission_id)
    if sub is None:
        raise ReviewError("not_found", 404)
    return sub


def _proposals(session: Session, submission_id: str) -> list[ProposalRow]:
    return list(
        session.scalars(
            select(ProposalRow).where(ProposalRow.submission_id == submission_id).order_by(ProposalRow.rank)
        )
    )


def _registry_records(session: Session, parcel_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The candidates' current registry records, when the registry tables are installed."""
    try:
        from worker.store.registry import RegistryRepository  # the registry engineer's lookups
    except ImportError:
        return {}
    try:
        with session.begin_nested():
            rows = RegistryRepository(session.get_bind()).fetch(session.connection(), parcel_ids)  # type: ignore[arg-type]
    except Exception:  # no registry loaded yet: the evidence still shows the record values
        log.warning("registry lookup failed for %d parcel(s)", len(parcel_ids), exc_info=True)
        return {}
    return {pid: row.to_record().model_dump() for pid, row in rows.items()}


def corrections(session: Session, submission_id: str) -> dict[tuple[str, int | None], Any]:
    """Latest reviewer correction per (field, owner_index)."""
    out: dict[tuple[str, int | None], Any] = {}
    for row in session.scalars(
        select(DecisionRow)
        .where(
            DecisionRow.submission_id == submission_id,
            DecisionRow.action == "correct",
            DecisionRow.undone_at.is_(None),
        )
        .order_by(DecisionRow.id)
    ):
        out[(row.field or "", row.owner_index)] = row.new_value
    return out


def _segments(segs: list[Segment]) -> list[dict[str, str]]:
    return [{"text": s.text, "kind": s.kind} for s in segs]


def _field_boxes(documents: list[tuple[DocumentRow, Document]]) -> dict[str, list[dict[str, Any]]]:
    boxes: dict[str, list[dict[str, Any]]] = {}
    for row, doc in documents:
        for name, fv in doc.fields.items():
            if fv.box:
                boxes.setdefault(name, []).append({"document_id": row.id, "box": fv.box})
        for idx, owner in enumerate(doc.owners, start=1):
            for name, fv in owner.items():
                if fv.box:
                    boxes.setdefault(name, []).append({"document_id": row.id, "box": fv.box, "owner_index": idx})
    return boxes


def item_view(session: Session, submission_id: str, user: UserRow) -> dict[str, Any]:
    """Everything the item page and GET /api/items/{id} show."""
    sub = _submission(session, submission_id)
    queue_row = session.get(ReviewQueueRow, submission_id)
    doc_rows = list(
        session.scalars(
            select(DocumentRow)
            .where(DocumentRow.submission_id == submission_id)
            .order_by(DocumentRow.source, DocumentRow.page, DocumentRow.part)
        )
    )
    docs = [(row, Document.model_validate(row.payload)) for row in doc_rows]
    fixes = corrections(session, submission_id)
    documents = []
    for row, doc in docs:
        fields = [
            {
                "name": name,
                "value": fv.value,
                "confidence": fv.confidence,
                "box": fv.box,
                "sources": fv.sources,
                "owner_index": 0,
            }
            for name, fv in doc.fields.items()
        ]
        for idx, owner in enumerate(doc.owners, start=1):
            fields.extend(
                {
                    "name": name,
                    "value": fv.value,
                    "confidence": fv.confidence,
                    "box": fv.box,
                    "sources": fv.sources,
                    "owner_index": idx,
                }
                for name, fv in owner.items()
            )
        documents.append(
            {
                "id": row.id,
                "doc_type": row.doc_type,
                "doc_type_confidence": row.doc_type_confidence,
                "source": Path(row.source).name,
                "page": row.page,
                "part": row.part,
                "quality_score": row.quality_score,
                "warnings": list(row.warnings or []),
                "has_image": bool(row.image_key) or row.source_object_id is not None,
                "boxes_align": bool(row.image_key),
                "fields": fields,
            }
        )
    boxes = _field_boxes(docs)
    candidates = []
    proposal_rows = _proposals(session, submission_id)
    records = _registry_records(session, [p.parcel_id for p in proposal_rows])
    for prow in proposal_rows:
        proposal = Proposal.model_validate(prow.payload)
        evidence = []
        for ev in proposal.evidence:
            scanned = fixes.get((ev.field, None), ev.scanned)
            left, right, equal = char_diff(scanned, ev.record)
            evidence.append(
                {
                    "field": ev.field,
                    "scanned": scanned,
                    "scanned_original": ev.scanned,
                    "corrected": (ev.field, None) in fixes,
                    "record": ev.record,
                    "agreement": ev.agreement,
                    "weight": ev.weight,
                    "equal": equal,
                    "scanned_diff": _segments(left),
                    "record_diff": _segments(right),
                    "boxes": boxes.get(ev.field, []),
                }
            )
        candidates.append(
            {
                "proposal_id": prow.id,
                "rank": prow.rank,
                "parcel_id": prow.parcel_id,
                "owner_id": proposal.owner_id,
                "owner_name": proposal.owner_name,
                "confidence": prow.confidence,
                "band": prow.band,
                "match_weight": proposal.match_weight,
                "model_version": prow.model_version or proposal.model_version,
                "notes": proposal.notes,
                "evidence": evidence,
                "updates": [
                    {**u.model_dump(), "scanned_value": fixes.get((u.field, u.owner_index), u.scanned_value)}
                    for u in proposal.proposed_updates
                ],
                "record": records.get(prow.parcel_id),
            }
        )
    holder = lease_holder(session, submission_id)
    holder_name = session.get(UserRow, holder[0]).name if holder else None  # type: ignore[union-attr]
    standing = standing_decision(session, submission_id)
    return {
        "submission_id": sub.id,
        "status": sub.status,
        "review_status": sub.review_status,
        "band": sub.best_band,
        "confidence": sub.best_confidence,
        "commune_code": sub.commune_code,
        "created_at": aware(sub.created_at),
        "reason": queue_row.reason if queue_row else None,
        "lease": {
            "held_by_me": bool(holder and holder[0] == user.id),
            "holder": holder_name,
            "expires_at": holder[1] if holder else None,
        },
        "documents": documents,
        "candidates": candidates,
        "decision": _decision_dict(session, standing) if standing else None,
        "errors": [
            {"source": Path(e.source).name, "code": e.code, "message": e.message}
            for e in session.scalars(select(ErrorRow).where(ErrorRow.submission_id == submission_id))
        ],
        "history": history(session, submission_id),
    }


def _decision_dict(session: Session, row: DecisionRow) -> dict[str, Any]:
    user = session.get(UserRow, row.user_id)
    return {
        "id": row.id,
        "action": row.action,
        "rank": row.rank,
        "parcel_id": row.parcel_id,
        "owner_id": row.owner_id,
        "decided_by": user.name if user else None,
        "decided_at": aware(row.decided_at),
        "model_version": row.model_version,
        "note": row.note,
    }


def history(session: Session, submission_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditRow).where(AuditRow.submission_id == submission_id).order_by(AuditRow.at.desc(), AuditRow.id.desc())
    )
    return [audit_dict(r) for r in rows]


def audit_dict(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": aware(row.at),
        "user": row.user_name,
        "action": row.action,
        "submission_id": row.submission_id,
        "decision_id": row.decision_id,
        "model_version": row.model_version,
        "detail": row.detail,
    }


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


# --- decisions --------------------------------------------------------------------------------------------


def _snapshot(proposals: Sequence[ProposalRow]) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "proposal_id": p.id,
                "rank": p.rank,
                "parcel_id": p.parcel_id,
                "owner_id": p.owner_id,
                "confidence": p.confidence,
                "band": p.band,
                "model_version": p.model_version,
                "payload": p.payload,
            }
            for p in proposals
        ]
    }


def _hold(session: Session, user: UserRow, submission_id: str, ttl: timedelta) -> SubmissionRow:
    """The item must exist, be undecided and be leasable by this user (renews the lease)."""
    sub = _submission(session, submission_id)
    if sub.review_status == "decided":
        raise ReviewError("already_decided")
    if not acquire_lease(session, submission_id, user.id, ttl):
        raise ReviewError("leased_by_other")
    session.refresh(sub)
    if sub.review_status == "decided":
        raise ReviewError("already_decided")
    return sub


def decide(
    session: Session,
    user: UserRow,
    submission_id: str,
    action: str,
    ttl: timedelta,
    *,
    rank: int | None = None,
    proposal_id: int | None = None,
    note: str | None = None,
) -> DecisionRow:
    """accept (candidate `rank`, default 1), reject (candidate `rank`), or none (no candidate is right)."""
    if action not in CLOSING_ACTIONS:
        raise ReviewError("bad_action", 422)
    note = _clean_note(note)
    _hold(session, user, submission_id, ttl)
    proposals = _proposals(session, submission_id)
    chosen: ProposalRow | None = None
    if action in ("accept", "reject"):
        rank = rank or 1
        chosen = next((p for p in proposals if p.rank == rank), None)
        if chosen is None:
            raise ReviewError("no_such_candidate", 422)
        if proposal_id is not None and chosen.id != proposal_id:
            raise ReviewError("stale_item")  # re-matched since the page was rendered
    elif action == "none":
        rank = None
    # the conditional update is the real guard: of two concurrent decisions only one flips the status
    flipped = session.execute(
        update(SubmissionRow)
        .where(SubmissionRow.id == submission_id, SubmissionRow.review_status != "decided")
        .values(review_status="decided", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        raise ReviewError("already_decided")
    model_version = (chosen.model_version if chosen else None) or next(
        (p.model_version for p in proposals if p.model_version), None
    )
    row = DecisionRow(
        submission_id=submission_id,
        action=action,
        rank=rank,
        parcel_id=chosen.parcel_id if chosen else None,
        owner_id=chosen.owner_id if chosen else None,
        confidence=chosen.confidence if chosen else None,
        note=note,
        snapshot=_snapshot(proposals),
        model_version=model_version,
        user_id=user.id,
        decided_at=utcnow(),
    )
    session.add(row)
    session.flush()
    release_lease(session, submission_id, user.id)
    append_audit(
        session,
        user=user,
        action=action,
        submission_id=submission_id,
        decision_id=row.id,
        model_version=model_version,
        detail={
            "rank": rank,
            "parcel_id": row.parcel_id,
            "owner_id": row.owner_id,
            "confidence": row.confidence,
            "review_status": {"old": "pending", "new": "decided"},
            **({"note": note} if note else {}),
        },
    )
    log.info("decision %s on submission %s by %s (decision %d)", action, submission_id, user.name, row.id)
    return row


def correct(
    session: Session,
    user: UserRow,
    submission_id: str,
    field_name: str,
    value: str,
    ttl: timedelta,
    *,
    owner_index: int | None = None,
) -> DecisionRow:
    """The reviewer's reading of a field replaces the scanned value in the comparison and the export."""
    _hold(session, user, submission_id, ttl)
    new_value = clean(value)
    if not new_value or len(new_value) > MAX_VALUE_LENGTH:
        raise ReviewError("bad_value", 422)
    known: dict[tuple[str, int | None], Any] = {}
    for p in _proposals(session, submission_id):
        proposal = Proposal.model_validate(p.payload)
        for ev in proposal.evidence:
            known.setdefault((ev.field, None), ev.scanned)
        for u in proposal.proposed_updates:
            known.setdefault((u.field, u.owner_index), u.scanned_value)
    for d in session.scalars(select(DocumentRow).where(DocumentRow.submission_id == submission_id)):
        doc = Document.model_validate(d.payload)
        for name, fv in doc.fields.items():
            known.setdefault((name, None), fv.value)
    key = (field_name, owner_index)
    if key not in known:
        raise ReviewError("unknown_field", 422)
    old_value = corrections(session, submission_id).get(key, known[key])
    row = DecisionRow(
        submission_id=submission_id,
        action="correct",
        field=field_name,
        owner_index=owner_index,
        old_value=old_value,
        new_value=new_value,
        user_id=user.id,
        decided_at=utcnow(),
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        user=user,
        action="correct",
        submission_id=submission_id,
        decision_id=row.id,
        detail={"field": field_name, "owner_index": owner_index, "old": old_value, "new": new_value},
    )
    return row


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = unicodedata.normalize("NFC", note).strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ReviewError("note_too_long", 422)
    return note or None


def add_note(session: Session, user: UserRow, submission_id: str, note: str) -> DecisionRow:
    """Notes need no lease: anyone reviewing may comment, even on a decided item."""
    _submission(session, submission_id)
    text = _clean_note(note)
    if not text:
        raise ReviewError("bad_value", 422)
    row = DecisionRow(submission_id=submission_id, action="note", note=text, user_id=user.id, decided_at=utcnow())
    session.add(row)
    session.flush()
    append_audit(
        session, user=user, action="note", submission_id=submission_id, decision_id=row.id, detail={"note": text}
    )
    return row


def last_decision(session: Session, user: UserRow) -> DecisionRow | None:
    return session.scalar(
        select(DecisionRow)
        .where(
            DecisionRow.user_id == user.id,
            DecisionRow.action.in_(CLOSING_ACTIONS),
            DecisionRow.undone_at.is_(None),
        )
        .order_by(DecisionRow.decided_at.desc(), DecisionRow.id.desc())
        .limit(1)
    )


def undo_last(session: Session, user: UserRow, window: timedelta, ttl: timedelta) -> DecisionRow:
    """Undo the user's own most recent decision while the window is open; the item comes back, leased to them."""
    row = last_decision(session, user)
    if row is None:
        raise ReviewError("nothing_to_undo")
    decided_at = aware(row.decided_at)
    assert decided_at is not None
    if utcnow() - decided_at > window:
        raise ReviewError("undo_expired")
    if not acquire_lease(session, row.submission_id, user.id, ttl):
        raise ReviewError("leased_by_other")
    flipped = session.execute(
        update(SubmissionRow)
        .where(SubmissionRow.id == row.submission_id, SubmissionRow.review_status == "decided")
        .values(review_status="pending", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        raise ReviewError("nothing_to_undo")
    row.undone_at = utcnow()
    row.undone_by = user.id
    append_audit(
        session,
        user=user,
        action="undo",
        submission_id=row.submission_id,
        decision_id=row.id,
        model_version=row.model_version,
        detail={"undone_action": row.action, "rank": row.rank, "parcel_id": row.parcel_id},
    )
    return row


def previous_item(session: Session, user: UserRow, before: str | None = None) -> str | None:
    """The item this user decided before `before` (or their latest): K on the item page goes there."""
    rows = session.execute(
        select(DecisionRow.submission_id)
        .where(DecisionRow.user_id == user.id, DecisionRow.action.in_(CLOSING_ACTIONS))
        .order_by(DecisionRow.id.desc())
        .limit(50)
    ).all()
    ids = list(dict.fromkeys(r[0] for r in rows))
    if before in ids:
        later = ids.index(before) + 1
        return ids[later] if later < len(ids) else None
    return ids[0] if ids else None


# --- export -----------------------------------------------------------------------------------------------

EXPORT_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "submission_id",
    "commune_code",
    "parcel_id",
    "owner_id",
    "owner_name",
    "change",
    "field",
    "old_value",
    "new_value",
    "reason",
    "decided_by",
    "decided_at",
    "model_version",
)


def export_rows(
    session: Session, *, date_from: date | None = None, date_to: date | None = None, commune: str | None = None
) -> list[dict[str, Any]]:
    """One row per parcel-owner change implied by a standing accept decision (reviewer corrections applied);
    an accepted match that changes nothing is one `confirm` row, so VBDLIS can record the link."""
    stmt = (
        select(DecisionRow, SubmissionRow.commune_code, UserRow.name)
        .join(SubmissionRow, SubmissionRow.id == DecisionRow.submission_id)
        .join(UserRow, UserRow.id == DecisionRow.user_id)
        .where(DecisionRow.action == "accept", DecisionRow.undone_at.is_(None))
    )
    if date_from:
        stmt = stmt.where(DecisionRow.decided_at >= datetime.combine(date_from, datetime.min.time(), UTC))
    if date_to:
        stmt = stmt.where(
            DecisionRow.decided_at < datetime.combine(date_to + timedelta(days=1), datetime.min.time(), UTC)
        )
    if commune:
        stmt = stmt.where(SubmissionRow.commune_code == commune)
    out: list[dict[str, Any]] = []
    for row, commune_code, decided_by in session.execute(stmt.order_by(DecisionRow.decided_at, DecisionRow.id)):
        cand = next((c for c in (row.snapshot or {}).get("candidates", []) if c.get("rank") == row.rank), None)
        if cand is None:
            continue
        proposal = Proposal.model_validate(cand["payload"])
        fixes = {k: v for k, v in corrections(session, row.submission_id).items()}
        updates: dict[tuple[str, int | None], dict[str, Any]] = {}
        for pu in proposal.proposed_updates:
            updates[(pu.field, pu.owner_index)] = {"old": pu.record_value, "new": pu.scanned_value, "reason": pu.reason}
        records = {ev.field: ev.record for ev in proposal.evidence}
        for (fname, owner_index), value in fixes.items():
            if (fname, owner_index) in updates:
                updates[(fname, owner_index)]["new"] = value
                updates[(fname, owner_index)]["reason"] = "reviewer_correction"
            elif fname in records:
                updates[(fname, owner_index)] = {"old": records[fname], "new": value, "reason": "reviewer_correction"}
        changes = [(k, u) for k, u in updates.items() if normalise_value(u["old"]) != normalise_value(u["new"])]
        base = {
            "decision_id": row.id,
            "submission_id": row.submission_id,
            "commune_code": commune_code or "",
            "parcel_id": row.parcel_id,
            "owner_id": row.owner_id or "",
            "owner_name": proposal.owner_name or "",
            "decided_by": decided_by,
            "decided_at": (aware(row.decided_at) or utcnow()).isoformat(timespec="seconds"),
            "model_version": row.model_version or "",
        }
        if not changes:
            out.append({**base, "change": "confirm", "field": "", "old_value": "", "new_value": "", "reason": ""})
        for (fname, _owner_index), u in sorted(changes, key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            out.append(
                {
                    **base,
                    "change": "update",
                    "field": fname,
                    "old_value": "" if u["old"] is None else u["old"],
                    "new_value": "" if u["new"] is None else u["new"],
                    "reason": u["reason"] or "",
                }
            )
    return [{col: r[col] for col in EXPORT_COLUMNS} for r in out]


# --- uploads ----------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str) -> str:
    """A plain file name: no directories, no control or shell characters, NFC, at most 120 characters."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    base = _UNSAFE.sub("_", base).lstrip(".")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[: 120 - len(suffix) - 1] or "scan"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def new_submission_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"up-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class IncomingFile:
    filename: str
    stream: BinaryIO


def _check_uploads(files: Sequence[IncomingFile], settings: Settings) -> list[tuple[str, BinaryIO, int]]:
    if not files:
        raise ReviewError("no_files", 400)
    if len(files) > MAX_UPLOAD_FILES:
        raise ReviewError("too_many_files", 400, limit=MAX_UPLOAD_FILES)
    checked: list[tuple[str, BinaryIO, int]] = []
    used: set[str] = set()
    for f in files:
        name = safe_filename(f.filename or "scan")
        if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
            raise ReviewError("unsupported_file", 400, name=name)
        f.stream.seek(0, os.SEEK_END)
        size = f.stream.tell()
        f.stream.seek(0)
        if size == 0:
            raise ReviewError("empty_upload", 400, name=name)
        if size > settings.max_file_bytes:
            raise ReviewError("file_too_big", 400, name=name)
        stem, suffix, n = Path(name).stem, Path(name).suffix, 1
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}{suffix}"
        used.add(name.lower())
        checked.append((name, f.stream, size))
    return checked


def save_upload(
    session: Session,
    user: UserRow,
    files: Sequence[IncomingFile],
    settings: Settings,
    s3_client: Callable[[], Any],
) -> UploadRow:
    """Put the files where every other intake puts them: the bucket under `<submission_id>/`, or the inbox
    folder `<inbox>/<submission_id>/`. The inbox folder appears complete in one rename, so a worker scanning
    the inbox never sees half a submission."""
    checked = _check_uploads(files, settings)
    sid = new_submission_id()
    infos = [{"name": name, "size": size} for name, _stream, size in checked]
    if settings.bucket:
        client = s3_client()
        for name, stream, _size in checked:
            client.upload_fileobj(stream, settings.bucket, f"{sid}/{name}")
        destination = f"s3://{settings.bucket}/{sid}/"
    else:
        inbox = Path(settings.resolved_inbox_dir)
        staging = inbox.parent / ".upload-staging" / sid
        staging.mkdir(parents=True, exist_ok=False)
        try:
            for name, stream, _size in checked:
                with open(staging / name, "wb") as out:
                    shutil.copyfileobj(stream, out, 1024 * 1024)
            inbox.mkdir(parents=True, exist_ok=True)
            os.replace(staging, inbox / sid)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        destination = str(inbox / sid)
    row = UploadRow(submission_id=sid, user_id=user.id, destination=destination, files=infos, created_at=utcnow())
    session.add(row)
    session.flush()
    append_audit(
        session, user=user, action="upload", submission_id=sid, detail={"files": len(infos), "to": destination}
    )
    log.info("upload %s: %d file(s) by %s", sid, len(infos), user.name)
    return row


def upload_status(session: Session, *, user_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Uploads with how far the worker got: waiting (not picked up yet), processing, processed, failed."""
    stmt = select(UploadRow, UserRow.name, SubmissionRow).join(UserRow, UserRow.id == UploadRow.user_id)
    stmt = stmt.outerjoin(SubmissionRow, SubmissionRow.id == UploadRow.submission_id)
    if user_id is not None:
        stmt = stmt.where(UploadRow.user_id == user_id)
    rows = session.execute(stmt.order_by(UploadRow.created_at.desc()).limit(limit)).all()
    ids = [r[0].submission_id for r in rows]
    jobs: dict[str, dict[str, int]] = {}
    errors: dict[str, int] = {}
    sources: dict[str, int] = {}
    if ids:
        for sid, status, n in session.execute(
            select(JobRow.submission_id, JobRow.status, func.count())
            .where(JobRow.submission_id.in_(ids))
            .group_by(JobRow.submission_id, JobRow.status)
        ):
            jobs.setdefault(str(sid), {})[status] = n
        for sid, n in session.execute(
            select(ErrorRow.submission_id, func.count())
            .where(ErrorRow.submission_id.in_(ids))
            .group_by(ErrorRow.submission_id)
        ):
            errors[sid] = n
        for sid, n in session.execute(
            select(SourceObjectRow.submission_id, func.count())
            .where(SourceObjectRow.submission_id.in_(ids), SourceObjectRow.status != "received")
            .group_by(SourceObjectRow.submission_id)
        ):
            sources[sid] = n
    out = []
    for upload, uploader, sub in rows:
        job_counts = jobs.get(upload.submission_id, {})
        if sub is None and not job_counts:
            state = "waiting"
        elif sub is not None and sub.status in ("processed", "failed"):
            state = sub.status
        elif job_counts.get("failed") or job_counts.get("dead"):
            state = "failed"
        else:
            state = "processing"
        out.append(
            {
                "submission_id": upload.submission_id,
                "uploaded_by": uploader,
                "uploaded_at": aware(upload.created_at),
                "files": upload.files,
                "destination": upload.destination,
                "state": state,
                "files_done": sources.get(upload.submission_id, 0),
                "jobs": job_counts,
                "errors": errors.get(upload.submission_id, 0),
                "review_status": sub.review_status if sub else None,
                "band": sub.best_band if sub else None,
            }
        )
    return out


def is_sampled(submission_id: str, rate: float) -> bool:
    return audit_sampled(submission_id, rate)
