"""The exceptions worklist: submissions a person must act on that the review queue does not hold, so nothing
disappears between intake and VBDLIS. A submission is an exception when it has no candidate, only
`unlikely` candidates, a page of unknown type, a file that failed, documents that contradict each other, or
when a reviewer said none of its candidates is right, until someone attaches the right parcel (found by
searching the registry), asks for a new registry record, or asks for new scans.

`sync` derives the worklist and the search keys from the stored results for every submission whose row
changed since it last looked (each decision, re-match and stored file touches `submissions.updated_at`), a
bounded batch per call, so a page or a metrics scrape pays only for what changed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from worker.keys import serial_key
from worker.review import i18n
from worker.review.labels import CONFLICT_WARNINGS, warning_code
from worker.review.service import REVIEWABLE_REASONS
from worker.store.results import DocumentRow, ErrorRow, SubmissionFindingsRow, SubmissionRow, utcnow
from worker.store.review import (
    CLOSING_ACTIONS,
    RESOLVING_ACTIONS,
    DecisionRow,
    ReviewLeaseRow,
    ReviewQueueRow,
    UploadRow,
    UserRow,
    acquire_lease,
    append_audit,
    aware,
    release_leases,
)
from worker.store.worklist import ReviewExceptionRow, SearchKeyRow
from worker.vntext import address_key, name_key

log = logging.getLogger(__name__)

EXCEPTION_REASONS = ("no_match", "unlikely_only", "unknown_page", "failed_file", "conflict", "none_of_candidates")
SYNC_BATCH = 2000
# a change committed late (a transaction that began before the last sync) has an updated_at at most this much
# older than the newest one seen; the window is looked at again on every sync
LATE_COMMIT = timedelta(hours=1)


def _known(key: str) -> bool:
    return key in i18n.MESSAGES[i18n.DEFAULT]


def _digits(value: Any) -> str | None:
    text = "".join(ch for ch in str(value or "") if ch.isdigit())
    return text if len(text) in (9, 12) else None


def _value(fields: dict[str, Any], name: str) -> Any:
    entry = fields.get(name)
    return entry.get("value") if isinstance(entry, dict) else None


def search_keys(documents: Iterable[tuple[int, dict[str, Any]]], case_number: str | None, applicant: str | None) -> set:
    """(document id, kind, key) for every value a submission can be found by; documents are stored
    models.Document payloads (read as plain JSON: this runs for every changed submission)."""
    keys: set[tuple[int | None, str, str]] = set()

    def add(doc_id: int | None, kind: str, key: str | None) -> None:
        if key:
            keys.add((doc_id, kind, key[:200]))

    for doc_id, doc in documents:
        fields = doc.get("fields") or {}
        for group in (fields, *(doc.get("owners") or [])):
            for name in ("id_number", "old_id_number"):
                add(doc_id, "id", _digits(_value(group, name)))
            for name in ("full_name", "mrz_name"):
                if isinstance(value := _value(group, name), str):
                    add(doc_id, "name", name_key(value))
            for name in ("parcel_address", "place_of_residence", "address"):
                if isinstance(value := _value(group, name), str):
                    add(doc_id, "address", address_key(value))
        if serial := _value(fields, "certificate_serial"):
            add(doc_id, "serial", serial_key(str(serial)))
        sheet, number = _value(fields, "map_sheet_number"), _value(fields, "parcel_number")
        if sheet is not None and number is not None:
            add(doc_id, "ref", f"{sheet}/{number}")
    if case_number:
        add(None, "case", case_number.strip().upper())
    if applicant:
        add(None, "name", name_key(applicant))
    return keys


@dataclass
class _Facts:
    sub: SubmissionRow
    documents: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # warnings of the checks between its documents
    errors: int = 0
    standing: str | None = None
    queue_reason: str | None = None
    case_number: str | None = None
    applicant: str | None = None


def exception_reasons(facts: _Facts) -> list[str]:
    sub = facts.sub
    reasons: list[str] = []
    if facts.errors:
        reasons.append("failed_file")
    if sub.status == "processed" and facts.documents and sub.best_band is None:
        reasons.append("no_match")
    if sub.best_band == "unlikely":
        reasons.append("unlikely_only")
    if any(doc.get("doc_type") == "unknown" for _id, doc in facts.documents):
        reasons.append("unknown_page")
    warnings = [w for _id, doc in facts.documents for w in doc.get("warnings") or ()] + facts.findings
    if any(warning_code(w, _known) in CONFLICT_WARNINGS for w in warnings):
        reasons.append("conflict")
    if facts.standing == "none":
        reasons.append("none_of_candidates")
    return reasons


def is_open(facts: _Facts, reasons: list[str]) -> bool:
    """On the worklist: something needs a person, nobody has settled it, and the review queue does not hold
    it (an item waiting there is seen by a reviewer, who sees the same reasons on its page)."""
    if not reasons or facts.standing in RESOLVING_ACTIONS:
        return False
    in_review_queue = facts.sub.review_status != "decided" and (
        facts.queue_reason in REVIEWABLE_REASONS or facts.sub.best_band == "review"
    )
    return not in_review_queue


def _facts(session: Session, subs: list[SubmissionRow]) -> dict[str, _Facts]:
    facts = {s.id: _Facts(s) for s in subs}
    ids = list(facts)
    for doc_id, sid, payload in session.execute(
        select(DocumentRow.id, DocumentRow.submission_id, DocumentRow.payload).where(DocumentRow.submission_id.in_(ids))
    ):
        facts[sid].documents.append((doc_id, payload))
    for sid, payload in session.execute(
        select(SubmissionFindingsRow.submission_id, SubmissionFindingsRow.payload).where(
            SubmissionFindingsRow.submission_id.in_(ids)
        )
    ):
        facts[sid].findings = [w for doc in payload.get("documents") or () for w in doc.get("warnings") or ()]
    for sid, n in session.execute(
        select(ErrorRow.submission_id, func.count())
        .where(ErrorRow.submission_id.in_(ids))
        .group_by(ErrorRow.submission_id)
    ):
        facts[sid].errors = n
    for sid, action in session.execute(
        select(DecisionRow.submission_id, DecisionRow.action)
        .where(
            DecisionRow.submission_id.in_(ids), DecisionRow.action.in_(CLOSING_ACTIONS), DecisionRow.undone_at.is_(None)
        )
        .order_by(DecisionRow.id)
    ):
        facts[sid].standing = action  # the latest wins
    for sid, reason in session.execute(
        select(ReviewQueueRow.submission_id, ReviewQueueRow.reason).where(ReviewQueueRow.submission_id.in_(ids))
    ):
        facts[sid].queue_reason = reason
    for sid, case, applicant in session.execute(
        select(UploadRow.submission_id, UploadRow.case_number, UploadRow.applicant).where(
            UploadRow.submission_id.in_(ids)
        )
    ):
        facts[sid].case_number, facts[sid].applicant = case, applicant
    return facts


def sync(session: Session, limit: int = SYNC_BATCH) -> int:
    """Derive the worklist rows and search keys of submissions changed since last time (at most `limit`).
    Returns how many were looked at."""
    stale = (
        select(SubmissionRow)
        .outerjoin(ReviewExceptionRow, ReviewExceptionRow.submission_id == SubmissionRow.id)
        .where(
            or_(
                ReviewExceptionRow.submission_id.is_(None),
                ReviewExceptionRow.seen_updated_at.is_(None),
                ReviewExceptionRow.seen_updated_at != SubmissionRow.updated_at,
            )
        )
        .order_by(SubmissionRow.updated_at)
        .limit(limit)
    )
    # submissions are looked at oldest change first, so everything before the newest change seen is done,
    # but for commits that arrived late; an index range scan instead of a pass over every submission
    newest = session.scalar(select(func.max(ReviewExceptionRow.seen_updated_at)))
    if newest is not None:
        stale = stale.where(SubmissionRow.updated_at >= newest - LATE_COMMIT)

    return _derive(session, list(session.scalars(stale)))


def sync_one(session: Session, sub: SubmissionRow) -> ReviewExceptionRow | None:
    """The worklist row of one submission, derived again only when the submission changed since."""
    row = session.get(ReviewExceptionRow, sub.id)
    if row is None or row.seen_updated_at != sub.updated_at:
        _derive(session, [sub])
        row = session.get(ReviewExceptionRow, sub.id)
    return row


def _derive(session: Session, subs: list[SubmissionRow]) -> int:
    if not subs:
        return 0
    now = utcnow()
    ids = [sub.id for sub in subs]
    rows = {
        r.submission_id: r
        for r in session.scalars(select(ReviewExceptionRow).where(ReviewExceptionRow.submission_id.in_(ids)))
    }
    session.execute(delete(SearchKeyRow).where(SearchKeyRow.submission_id.in_(ids)))
    keys: list[dict[str, Any]] = []
    for f in _facts(session, subs).values():
        reasons = exception_reasons(f)
        row = rows.get(f.sub.id)
        if row is None:
            row = ReviewExceptionRow(submission_id=f.sub.id)
            session.add(row)
        row.reasons, row.open = reasons, is_open(f, reasons)
        row.seen_updated_at, row.indexed_at = f.sub.updated_at, now
        keys += [
            {"submission_id": f.sub.id, "document_id": doc_id, "kind": kind, "key": key}
            for doc_id, kind, key in search_keys(f.documents, f.case_number, f.applicant)
        ]
    session.flush()
    if keys:
        session.execute(insert(SearchKeyRow), keys)
    return len(subs)


# --- the list ---------------------------------------------------------------------------------------------


@dataclass
class ExceptionItem:
    submission_id: str
    created_at: datetime
    reasons: list[str]
    status: str
    band: str | None
    review_status: str
    case_number: str | None = None
    leased_by: str | None = None
    doc_types: list[str] = field(default_factory=list)


def _open_base(now: datetime, reason: str | None) -> Any:
    live_lease = and_(ReviewLeaseRow.submission_id == SubmissionRow.id, ReviewLeaseRow.expires_at > now)
    stmt = (
        select(SubmissionRow, ReviewExceptionRow.reasons, UserRow.name, UploadRow.case_number)
        .join(ReviewExceptionRow, ReviewExceptionRow.submission_id == SubmissionRow.id)
        .outerjoin(ReviewLeaseRow, live_lease)
        .outerjoin(UserRow, UserRow.id == ReviewLeaseRow.user_id)
        .outerjoin(UploadRow, UploadRow.submission_id == SubmissionRow.id)
        .where(ReviewExceptionRow.open.is_(True))
    )
    if reason:
        # reasons is a JSON list: its text holds the quoted code (codes are plain identifiers)
        stmt = stmt.where(cast(ReviewExceptionRow.reasons, Text).like(f'%"{reason}"%'))
    return stmt


def list_exceptions(
    session: Session, *, reason: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[ExceptionItem], int]:
    now = utcnow()
    stmt = _open_base(now, reason if reason in EXCEPTION_REASONS else None)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(SubmissionRow.created_at, SubmissionRow.id).limit(limit).offset(offset)).all()
    items = [
        ExceptionItem(
            submission_id=sub.id,
            created_at=aware(sub.created_at) or now,
            reasons=list(reasons),
            status=sub.status,
            band=sub.best_band,
            review_status=sub.review_status,
            case_number=case,
            leased_by=holder,
        )
        for sub, reasons, holder, case in rows
    ]
    if items:
        types: dict[str, set[str]] = {}
        for sid, doc_type in session.execute(
            select(DocumentRow.submission_id, DocumentRow.doc_type).where(
                DocumentRow.submission_id.in_([i.submission_id for i in items])
            )
        ):
            types.setdefault(sid, set()).add(doc_type)
        for it in items:
            it.doc_types = sorted(types.get(it.submission_id, ()))
    return items, int(total)


def exception_counts(session: Session) -> dict[str, int]:
    """Open exceptions in all and by reason (a submission with two reasons counts under both)."""
    counts = dict.fromkeys(EXCEPTION_REASONS, 0)
    total = 0
    for (reasons,) in session.execute(select(ReviewExceptionRow.reasons).where(ReviewExceptionRow.open.is_(True))):
        total += 1
        for r in reasons:
            counts[r] = counts.get(r, 0) + 1
    return {"open": total, **counts}


def band_counts(session: Session) -> dict[str, int]:
    """Submissions by the band of their best proposal (`none`: no proposal at all), read ones only."""
    counts = {"auto_accept": 0, "review": 0, "unlikely": 0, "none": 0}
    for band, n in session.execute(
        select(SubmissionRow.best_band, func.count())
        .where(SubmissionRow.status == "processed")
        .group_by(SubmissionRow.best_band)
    ):
        counts[band or "none"] = counts.get(band or "none", 0) + n
    return counts


def take_next_exception(
    session: Session, user: UserRow, ttl: timedelta, *, reason: str | None = None, exclude: Iterable[str] = ()
) -> str | None:
    """Lease the oldest open exception nobody holds (one item per reviewer, as in the review queue)."""
    release_leases(session, user.id)
    session.flush()
    excluded = set(exclude)
    for _ in range(20):
        now = utcnow()
        stmt = _open_base(now, reason if reason in EXCEPTION_REASONS else None).where(
            ReviewLeaseRow.submission_id.is_(None)
        )
        if excluded:
            stmt = stmt.where(SubmissionRow.id.not_in(list(excluded)))
        ids = list(
            session.scalars(stmt.with_only_columns(SubmissionRow.id).order_by(SubmissionRow.created_at).limit(20))
        )
        if not ids:
            return None
        for sid in ids:
            if acquire_lease(session, sid, user.id, ttl):
                append_audit(session, user=user, action="lease", submission_id=sid, detail={"list": "exceptions"})
                return sid
            excluded.add(sid)
    return None
