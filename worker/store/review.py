"""Review state: staff accounts, the review queue, exclusive leases, decisions and the append-only audit log.

Rules the tables encode:
- a submission enters the review queue once (`review_queue`); whether an auto-accepted submission is
  audit-sampled is decided then and recorded, so changing the sample rate never re-samples old work;
- a lease is one row per submission (primary key), so two reviewers can never hold the same item: taking one
  is an UPDATE of an expired row or an INSERT that loses on the key, atomic on SQLite and PostgreSQL alike;
- decisions can be undone (they get `undone_at`), the audit log cannot: there is no update or delete path in
  code, and on PostgreSQL and SQLite a trigger refuses UPDATE and DELETE on `audit_log`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    delete,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.settings import Settings
from worker.store import migrate
from worker.store.db import Base, session_scope
from worker.store.results import SubmissionRow, utcnow
from worker.store.worklist import WORKLIST_TABLES

ROLES: tuple[str, ...] = ("clerk", "reviewer", "admin")
# a higher role can do everything a lower one can: admins review, reviewers see upload status
ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}

# decisions that close an item: a candidate accepted, none of them right, a new registry record needed, or
# the scans sent back for a new scan; `reject` judges one candidate wrong and leaves the item open
CLOSING_ACTIONS = frozenset({"accept", "none", "new_record", "rescan"})
# what leaves the exceptions worklist: the submission's parcel is known, to be created, or the scans redone
RESOLVING_ACTIONS = frozenset({"accept", "new_record", "rescan"})
UNDOABLE_ACTIONS = CLOSING_ACTIONS | {"reject"}
ACTIONS = (*sorted(UNDOABLE_ACTIONS), "correct", "note")


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # worker.store.logins.name_key(name): what logins look the user up by (case, spacing, Unicode form folded)
    name_key: Mapped[str | None] = mapped_column(String(80), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # bumped on password change or deactivation: every session cookie issued before stops working
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    lang: Mapped[str] = mapped_column(String(5), default="vi")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewQueueRow(Base):
    __tablename__ = "review_queue"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    # review: the matcher's band said so; audit_sample: an auto_accept drawn for audit; not_sampled: an
    # auto_accept that was not drawn (kept so the draw happens once)
    reason: Mapped[str] = mapped_column(String(20), index=True)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewLeaseRow(Base):
    __tablename__ = "review_leases"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    action: Mapped[str] = mapped_column(String(10), index=True)  # accept|reject|none|correct|note
    rank: Mapped[int | None] = mapped_column(Integer)  # the candidate acted on (accept/reject)
    parcel_id: Mapped[str | None] = mapped_column(String(64), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(80))
    confidence: Mapped[float | None] = mapped_column(Float)
    field: Mapped[str | None] = mapped_column(String(60))  # correct: which field
    owner_index: Mapped[int | None] = mapped_column(Integer)
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(Text)
    # the candidates as they were when decided (rank, parcel_id, owner_id, confidence, band, payload):
    # export and calibration read this, not the proposals table, which a re-match replaces
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the log must outlive anything it mentions
    user_name: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(30), index=True)
    submission_id: Mapped[str | None] = mapped_column(String(200), index=True)
    decision_id: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReviewSettingRow(Base):
    __tablename__ = "review_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UploadRow(Base):
    """A submission a clerk uploaded through the browser (no FK: the worker creates the submission later)."""

    __tablename__ = "uploads"

    submission_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    destination: Mapped[str] = mapped_column(String(1024))  # inbox folder or s3://bucket/prefix
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # what the clerk typed on the upload form: the office's case number (HS2025-...) and who applied
    case_number: Mapped[str | None] = mapped_column(String(60), index=True)
    applicant: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


REVIEW_TABLES = (
    UserRow.__table__,
    ReviewQueueRow.__table__,
    ReviewLeaseRow.__table__,
    DecisionRow.__table__,
    AuditRow.__table__,
    ReviewSettingRow.__table__,
    UploadRow.__table__,
)

# Append-only enforced by the database itself, so neither a bug nor a hand-typed SQL session can rewrite history.
_PG_FUNCTION = DDL(
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    # DDL() %-formats its text with the table's names: %% reaches PL/pgSQL as its own % placeholder
    "BEGIN RAISE EXCEPTION 'audit_log is append-only (%% refused)', TG_OP; END; $$ LANGUAGE plpgsql"
)
_PG_TRIGGER = DDL(
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
)
_PG_TRUNCATE = DDL(
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
)
_SQLITE_UPDATE = DDL(
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END"
)
_SQLITE_DELETE = DDL(
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)'); END"
)


def install_audit_triggers(connection: Any) -> None:
    """The append-only triggers, for an Alembic migration that creates `audit_log` with op.create_table
    (metadata.create_all installs them by itself through the after_create events below)."""
    ddls: tuple[DDL, ...] = ()
    if connection.dialect.name == "postgresql":
        ddls = (_PG_FUNCTION, _PG_TRIGGER, _PG_TRUNCATE)
    elif connection.dialect.name == "sqlite":
        ddls = (_SQLITE_UPDATE, _SQLITE_DELETE)
    for ddl in ddls:
        connection.execute(ddl)


for _ddl in (_PG_FUNCTION, _PG_TRIGGER, _PG_TRUNCATE):
    event.listen(AuditRow.__table__, "after_create", _ddl.execute_if(dialect="postgresql"))
for _ddl in (_SQLITE_UPDATE, _SQLITE_DELETE):
    event.listen(AuditRow.__table__, "after_create", _ddl.execute_if(dialect="sqlite"))


def create_review_tables(engine: Engine) -> None:
    """Create the review tables (and the submissions table they reference) if missing; triggers come with them."""
    tables: list[Any] = [SubmissionRow.__table__, *REVIEW_TABLES, *WORKLIST_TABLES]
    Base.metadata.create_all(engine, tables=tables)


def ensure_schema(engine: Engine) -> None:
    """Bring the schema up to date the way every process does (Alembic under a lock, see worker.store.migrate),
    then make sure the review tables exist."""
    migrate.upgrade(engine)
    create_review_tables(engine)  # no-op when present; installs the audit triggers on a fresh table


# --- settings ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewThresholds:
    auto_accept_threshold: float
    review_threshold: float
    audit_sample_rate: float
    lease_minutes: float = 15.0
    undo_seconds: float = 120.0
    second_review_rate: float = 0.1


SETTING_KEYS = (
    "auto_accept_threshold",
    "review_threshold",
    "audit_sample_rate",
    "lease_minutes",
    "undo_seconds",
    "second_review_rate",
)


def get_thresholds(engine_or_session: Engine | Session, settings: Settings) -> ReviewThresholds:
    """The effective thresholds: what an admin saved in the review app, else the environment's Settings.

    The matcher should read its band thresholds through this so an admin's change takes effect."""
    values: dict[str, Any] = {
        "auto_accept_threshold": settings.auto_accept_threshold,
        "review_threshold": settings.review_threshold,
        "audit_sample_rate": settings.audit_sample_rate,
    }

    def _read(session: Session) -> None:
        for row in session.scalars(select(ReviewSettingRow)):
            if row.key in SETTING_KEYS and row.value is not None:
                values[row.key] = float(row.value)

    if isinstance(engine_or_session, Session):
        _read(engine_or_session)
    else:
        with session_scope(engine_or_session) as session:
            _read(session)
    return ReviewThresholds(**values)


def save_setting(session: Session, key: str, value: float, user_name: str) -> None:
    row = session.get(ReviewSettingRow, key)
    if row is None:
        session.add(ReviewSettingRow(key=key, value=value, updated_by=user_name, updated_at=utcnow()))
    else:
        row.value, row.updated_by, row.updated_at = value, user_name, utcnow()


# --- audit ------------------------------------------------------------------------------------------------


def append_audit(
    session: Session,
    *,
    user: UserRow | None,
    action: str,
    submission_id: str | None = None,
    decision_id: int | None = None,
    model_version: str | None = None,
    detail: dict[str, Any] | None = None,
    user_name: str | None = None,
) -> AuditRow:
    row = AuditRow(
        at=utcnow(),
        user_id=user.id if user else None,
        user_name=user.name if user else (user_name or "system"),
        action=action,
        submission_id=submission_id,
        decision_id=decision_id,
        model_version=model_version,
        detail=detail or {},
    )
    session.add(row)
    session.flush()
    return row


# --- queue ------------------------------------------------------------------------------------------------


def audit_sampled(submission_id: str, rate: float) -> bool:
    """Deterministic draw: the same submission is sampled (or not) whichever process asks first."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(submission_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def sync_queue(session: Session, sample_rate: float) -> int:
    """Enqueue matched submissions not yet seen. Returns how many were added to the reviewable queue."""
    seen = select(ReviewQueueRow.submission_id)
    rows = session.execute(
        select(SubmissionRow.id, SubmissionRow.best_band).where(
            SubmissionRow.best_band.in_(("review", "auto_accept")), SubmissionRow.id.not_in(seen)
        )
    ).all()
    if not rows:
        return 0
    now = utcnow()
    values = []
    for sid, band in rows:
        sampled = band == "auto_accept" and audit_sampled(sid, sample_rate)
        reason = "review" if band == "review" else ("audit_sample" if sampled else "not_sampled")
        values.append({"submission_id": sid, "reason": reason, "enqueued_at": now})
    # one statement, and a concurrent request enqueueing the same submissions is not an error
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = pg_insert(ReviewQueueRow).on_conflict_do_nothing(index_elements=["submission_id"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(ReviewQueueRow).on_conflict_do_nothing(index_elements=["submission_id"])
    else:
        added = 0
        for value in values:
            try:
                with session.begin_nested():
                    session.add(ReviewQueueRow(**value))
            except IntegrityError:
                continue
            added += value["reason"] != "not_sampled"
        return added
    for start in range(0, len(values), 1000):
        session.execute(stmt, values[start : start + 1000])
    return sum(v["reason"] != "not_sampled" for v in values)


# --- re-matching a decided submission --------------------------------------------------------------------


def _proposal_view(p: Any) -> dict[str, Any]:
    return {"parcel_id": p.parcel_id, "owner_id": p.owner_id, "confidence": p.confidence, "band": p.band}


def standing_decision(session: Session, submission_id: str) -> DecisionRow | None:
    """The submission's latest accept/reject/none that has not been undone."""
    return session.scalar(
        select(DecisionRow)
        .where(
            DecisionRow.submission_id == submission_id,
            DecisionRow.action.in_(CLOSING_ACTIONS),
            DecisionRow.undone_at.is_(None),
        )
        .order_by(DecisionRow.id.desc())
        .limit(1)
    )


def take_back(session: Session, standing: DecisionRow, *, undone_by: int | None, queue_reason: str) -> None:
    """Undo a standing decision (it stays in the table with its snapshot) and put its item back in the review
    queue with `queue_reason`: a re-match that disagrees, or an admin reopening it."""
    now = utcnow()
    standing.undone_at, standing.undone_by = now, undone_by
    session.execute(
        update(SubmissionRow)
        .where(SubmissionRow.id == standing.submission_id)
        .values(review_status="pending", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    queued = session.get(ReviewQueueRow, standing.submission_id)
    if queued is None:
        session.add(ReviewQueueRow(submission_id=standing.submission_id, reason=queue_reason, enqueued_at=now))
    else:
        queued.reason, queued.enqueued_at = queue_reason, now


def rejected_parcels(session: Session, submission_id: str) -> set[str]:
    """Parcels a reviewer judged wrong for this submission (standing `reject` verdicts)."""
    return set(
        session.scalars(
            select(DecisionRow.parcel_id).where(
                DecisionRow.submission_id == submission_id,
                DecisionRow.action == "reject",
                DecisionRow.undone_at.is_(None),
                DecisionRow.parcel_id.is_not(None),
            )
        )
    )


def reconcile_rematch(session: Session, submission_id: str, proposals: Sequence[Any]) -> str | None:
    """A decided submission was matched again (a new page arrived, the registry or the model changed).

    A reviewer's decision is never overwritten silently:
    - the new proposals agree with the decision (accept: the accepted parcel is still the best proposal;
      none/new_record: no new candidate above the `unlikely` band that the reviewer has not already judged
      wrong; rescan never agrees: the new scan is what was asked for): the decision stands and the audit log records the re-match and its new best proposal
      (`rematch_kept`);
    - otherwise the item is reopened: the decision is marked undone by the system (it stays in the
      decisions table with its snapshot), the submission goes back to `pending` in the review queue, and the
      audit log explains why (`rematch_reopened`, with the old decision and the new proposal), which the item
      page shows in its history.
    `proposals` are models.Proposal objects, best first. Returns "kept", "reopened" or None (nothing decided)."""
    standing = standing_decision(session, submission_id)
    if standing is None:
        return None
    ranked = sorted(proposals, key=lambda p: p.confidence, reverse=True)
    top = ranked[0] if ranked else None
    judged = {c.get("parcel_id") for c in (standing.snapshot or {}).get("candidates", [])} | rejected_parcels(
        session, submission_id
    )
    if standing.action == "accept":
        agrees = top is not None and top.parcel_id == standing.parcel_id
    elif standing.action == "rescan":
        agrees = False  # new scans were asked for: whatever came in needs a look
    else:  # none, new_record: every candidate shown was wrong
        agrees = all(p.band == "unlikely" or p.parcel_id in judged for p in ranked)
    decision = {"id": standing.id, "action": standing.action, "parcel_id": standing.parcel_id}
    new = _proposal_view(top) if top is not None else None
    model_version = getattr(top, "model_version", None) if top is not None else None
    if agrees:
        append_audit(
            session,
            user=None,
            action="rematch_kept",
            submission_id=submission_id,
            decision_id=standing.id,
            model_version=model_version,
            detail={"decision": decision, "new_best": new, "note": "re-matched; the new best proposal agrees"},
        )
        return "kept"
    take_back(session, standing, undone_by=None, queue_reason="review")
    was = f"{standing.action} {standing.parcel_id}" if standing.parcel_id else standing.action
    now_best = f"{top.parcel_id} ({top.confidence:.2f}, {top.band})" if top is not None else "no proposal"
    append_audit(
        session,
        user=None,
        action="rematch_reopened",
        submission_id=submission_id,
        decision_id=standing.id,
        model_version=model_version,
        detail={
            "decision": decision,
            "new_best": new,
            "review_status": {"old": "decided", "new": "pending"},
            "note": f"re-matched after the decision ({was}); the best proposal is now {now_best}: decide again",
        },
    )
    session.flush()
    return "reopened"


# --- leases -----------------------------------------------------------------------------------------------


def acquire_lease(session: Session, submission_id: str, user_id: int, ttl: timedelta) -> bool:
    """Take (or renew) the lease on one submission. False when another reviewer holds a live lease."""
    now = utcnow()
    renewed = session.execute(
        update(ReviewLeaseRow)
        .where(
            ReviewLeaseRow.submission_id == submission_id,
            or_(ReviewLeaseRow.user_id == user_id, ReviewLeaseRow.expires_at < now),
        )
        .values(user_id=user_id, acquired_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount == 1:  # type: ignore[attr-defined]
        return True
    try:
        with session.begin_nested():
            session.add(
                ReviewLeaseRow(submission_id=submission_id, user_id=user_id, acquired_at=now, expires_at=now + ttl)
            )
    except IntegrityError:  # a live lease of someone else (or a racing insert that won)
        return False
    return True


def release_leases(session: Session, user_id: int, *, except_submission: str | None = None) -> None:
    stmt = delete(ReviewLeaseRow).where(ReviewLeaseRow.user_id == user_id)
    if except_submission is not None:
        stmt = stmt.where(ReviewLeaseRow.submission_id != except_submission)
    session.execute(stmt.execution_options(synchronize_session=False))


def release_lease(session: Session, submission_id: str, user_id: int) -> bool:
    """Give back this user's lease on a submission; False when they held none."""
    result = session.execute(
        delete(ReviewLeaseRow)
        .where(ReviewLeaseRow.submission_id == submission_id, ReviewLeaseRow.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lease_holder(session: Session, submission_id: str) -> tuple[int, datetime] | None:
    """(user_id, expires_at) of the live lease on a submission, if any."""
    row = session.get(ReviewLeaseRow, submission_id, populate_existing=True)
    if row is None:
        return None
    expires = aware(row.expires_at)
    assert expires is not None
    if expires < utcnow():
        return None
    return row.user_id, expires


# --- calibration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecidedPair:
    """One human label for the matcher: was (submission, parcel, owner) the right match?"""

    submission_id: str
    parcel_id: str
    owner_id: str | None
    accepted: bool
    rank: int | None
    confidence: float | None
    model_version: str | None
    decided_at: datetime
    decision_id: int


def pairs_from_decision(row: DecisionRow) -> list[DecidedPair]:
    """accept k: k is right and every other candidate wrong; reject k: k is wrong; none and new_record: all
    are wrong (the parcel is not among them); rescan says nothing about the candidates."""
    candidates = (row.snapshot or {}).get("candidates", [])
    decided_at = aware(row.decided_at)
    assert decided_at is not None
    pairs: list[DecidedPair] = []
    for cand in candidates:
        rank = cand.get("rank")
        if row.action == "accept":
            accepted = rank == row.rank
        elif row.action == "reject":
            if rank != row.rank:
                continue
            accepted = False
        elif row.action in ("none", "new_record"):
            accepted = False
        else:
            continue
        pairs.append(
            DecidedPair(
                submission_id=row.submission_id,
                parcel_id=cand["parcel_id"],
                owner_id=cand.get("owner_id"),
                accepted=accepted,
                rank=rank,
                confidence=cand.get("confidence"),
                model_version=cand.get("model_version") or row.model_version,
                decided_at=decided_at,
                decision_id=row.id,
            )
        )
    return pairs


def decided_pairs(engine: Engine, *, since: datetime | None = None) -> list[DecidedPair]:
    """Labelled (submission, parcel_id, owner_id, accepted) rows from every standing review decision.

    Undone decisions are left out; a pair judged more than once (a candidate rejected, then the item decided)
    counts once, with the latest judgement."""
    with session_scope(engine) as session:
        stmt = select(DecisionRow).where(DecisionRow.action.in_(UNDOABLE_ACTIONS), DecisionRow.undone_at.is_(None))
        if since is not None:
            stmt = stmt.where(DecisionRow.decided_at >= since)
        rows = session.scalars(stmt.order_by(DecisionRow.id)).all()
        latest = {(p.submission_id, p.parcel_id): p for row in rows for p in pairs_from_decision(row)}
        return list(latest.values())
