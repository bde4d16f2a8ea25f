"""Decisions on an item, independent of HTTP: accept a candidate, reject one and go on to the next, none of
them, a new registry record, new scans needed; corrections, notes, undo, an admin's reopening, and a
candidate a reviewer found in the registry. Every function takes an open session; the caller commits."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models.document import Document
from models.proposal import Proposal
from worker.review.errors import ReviewError, get_submission
from worker.review.item import candidate_changes, corrections, load_documents, proposals, registry_records
from worker.review.new_record import MAX_VALUE_LENGTH, clean_new_record
from worker.store.results import ProposalRow, SubmissionRow, utcnow
from worker.store.review import (
    CLOSING_ACTIONS,
    UNDOABLE_ACTIONS,
    DecisionRow,
    UserRow,
    acquire_lease,
    append_audit,
    aware,
    rejected_parcels,
    release_lease,
    standing_decision,
    take_back,
)
from worker.store.submissions import proposal_row
from worker.store.worklist import ExportSentRow
from worker.vntext import clean

log = logging.getLogger(__name__)

DECISION_ACTIONS = ("accept", "reject", "none", "new_record", "rescan")
MAX_NOTE_LENGTH = 2000


def _record(session: Session, user: UserRow, submission_id: str, action: str, **columns: Any) -> DecisionRow:
    """A new decision row by `user`, now (flushed, so it has its id)."""
    row = DecisionRow(submission_id=submission_id, action=action, user_id=user.id, decided_at=utcnow(), **columns)
    session.add(row)
    session.flush()
    return row


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = unicodedata.normalize("NFC", note).strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ReviewError("note_too_long", 422)
    return note or None


def resolvable(session: Session, sub: SubmissionRow) -> bool:
    """Can still be decided: undecided, or decided as "none of these", which the exceptions worklist settles
    by attaching a parcel found in the registry, a new record or a request for new scans."""
    if sub.review_status != "decided":
        return True
    standing = standing_decision(session, sub.id)
    return standing is not None and standing.action == "none"


def _hold(session: Session, user: UserRow, submission_id: str, ttl: timedelta) -> SubmissionRow:
    """The item must exist, be open to a decision and be leasable by this user (renews the lease)."""
    sub = get_submission(session, submission_id)
    if not resolvable(session, sub):
        raise ReviewError("already_decided")
    if not acquire_lease(session, submission_id, user.id, ttl):
        raise ReviewError("leased_by_other")
    session.refresh(sub)
    if not resolvable(session, sub):
        raise ReviewError("already_decided")
    return sub


def _snapshot(
    session: Session, submission_id: str, rows: Sequence[ProposalRow], chosen: ProposalRow | None
) -> dict[str, Any]:
    """The candidates as they were decided on, and for an accept exactly the changes shown under the chosen
    one: export and calibration read this, not the proposals table, which a re-match replaces."""
    snapshot: dict[str, Any] = {
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
            for p in rows
        ]
    }
    if chosen is not None:
        documents = [doc for _row, doc in load_documents(session, submission_id)]
        proposal = Proposal.model_validate(chosen.payload)
        fixes = corrections(session, submission_id, chosen.parcel_id)
        record = registry_records(session, [chosen.parcel_id]).get(chosen.parcel_id) or {}
        snapshot["chosen"] = {
            "rank": chosen.rank,
            "parcel_id": chosen.parcel_id,
            "owner_id": proposal.owner_id,
            "owner_name": proposal.owner_name,
            "commune_code": record.get("commune_code"),
            "updates": candidate_changes(proposal, fixes, documents),
        }
    return snapshot


def next_open_rank(session: Session, submission_id: str, after: int | None = None) -> int | None:
    """The next candidate (after rank `after`, wrapping round) no reviewer has rejected, if any."""
    rejected = rejected_parcels(session, submission_id)
    ranks = [p.rank for p in proposals(session, submission_id) if p.parcel_id not in rejected]
    later = [r for r in ranks if after is None or r > after]
    return (later or ranks)[0] if ranks else None


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
    new_record: dict[str, Any] | None = None,
) -> DecisionRow:
    """accept candidate `rank` (default 1); reject candidate `rank` (the item stays open, and closes as
    `none` once every candidate is rejected); none of them; new_record (the parcel is not in the registry:
    `new_record` holds the fields to create); rescan (the scans cannot be used: `note` says why)."""
    if action not in DECISION_ACTIONS:
        raise ReviewError("bad_action", 422)
    note = _clean_note(note)
    fields = clean_new_record(new_record or {}) if action == "new_record" else None
    if action == "rescan" and not note:
        raise ReviewError("note_required", 422)
    _hold(session, user, submission_id, ttl)
    rows = proposals(session, submission_id)
    chosen: ProposalRow | None = None
    if action in ("accept", "reject"):
        rank = rank or 1
        chosen = next((p for p in rows if p.rank == rank), None)
        if chosen is None:
            raise ReviewError("no_such_candidate", 422)
        if proposal_id is not None and chosen.id != proposal_id:
            raise ReviewError("stale_item")  # re-matched since the page was rendered
    else:
        rank = None
    if action == "reject":
        assert chosen is not None
        return _reject(session, user, submission_id, chosen, rows, note)
    return _close(session, user, submission_id, action, rows, chosen, note=note, new_record=fields)


def _close(
    session: Session,
    user: UserRow,
    submission_id: str,
    action: str,
    rows: Sequence[ProposalRow],
    chosen: ProposalRow | None,
    *,
    note: str | None = None,
    new_record: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> DecisionRow:
    replaces = _take_over(session, user, submission_id)
    model_version = (chosen.model_version if chosen else None) or next(
        (p.model_version for p in rows if p.model_version), None
    )
    snapshot = _snapshot(session, submission_id, rows, chosen)
    if replaces is not None:
        snapshot["replaces"] = replaces
    row = _record(
        session,
        user,
        submission_id,
        action,
        rank=chosen.rank if chosen else None,
        parcel_id=chosen.parcel_id if chosen else None,
        owner_id=chosen.owner_id if chosen else None,
        confidence=chosen.confidence if chosen else None,
        note=note,
        new_value=new_record,
        snapshot=snapshot,
        model_version=model_version,
    )
    commune = (snapshot.get("chosen") or {}).get("commune_code") or (new_record or {}).get("commune_code")
    if commune:
        session.execute(
            update(SubmissionRow)
            .where(SubmissionRow.id == submission_id, SubmissionRow.commune_code.is_(None))
            .values(commune_code=commune)
            .execution_options(synchronize_session=False)
        )
    release_lease(session, submission_id, user.id)
    append_audit(
        session,
        user=user,
        action=action,
        submission_id=submission_id,
        decision_id=row.id,
        model_version=model_version,
        detail={
            "rank": row.rank,
            "parcel_id": row.parcel_id,
            "owner_id": row.owner_id,
            "confidence": row.confidence,
            "review_status": {"old": "pending", "new": "decided"},
            **({"note": note} if note else {}),
            **({"new_record": new_record} if new_record else {}),
            **(detail or {}),
        },
    )
    log.info("decision %s on submission %s by %s (decision %d)", action, submission_id, user.name, row.id)
    return row


def _take_over(session: Session, user: UserRow, submission_id: str) -> int | None:
    """Close the item for this decision. The conditional updates are the real guard: of two concurrent
    decisions only one flips the status (or supersedes the standing "none of these"). Returns the id of the
    superseded decision, if any."""
    now = utcnow()
    flipped = session.execute(
        update(SubmissionRow)
        .where(SubmissionRow.id == submission_id, SubmissionRow.review_status != "decided")
        .values(review_status="decided", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if flipped.rowcount == 1:  # type: ignore[attr-defined]
        return None
    standing = standing_decision(session, submission_id)
    if standing is None or standing.action != "none":
        raise ReviewError("already_decided")
    superseded = session.execute(
        update(DecisionRow)
        .where(DecisionRow.id == standing.id, DecisionRow.undone_at.is_(None))
        .values(undone_at=now, undone_by=user.id)
        .execution_options(synchronize_session=False)
    )
    if superseded.rowcount != 1:  # type: ignore[attr-defined]
        raise ReviewError("already_decided")
    session.execute(
        update(SubmissionRow)
        .where(SubmissionRow.id == submission_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return standing.id


def _reject(
    session: Session,
    user: UserRow,
    submission_id: str,
    chosen: ProposalRow,
    rows: Sequence[ProposalRow],
    note: str | None,
) -> DecisionRow:
    """One candidate is wrong; the item stays with the reviewer. The last one rejected closes it as `none`
    (which puts it on the exceptions worklist, where the registry can be searched)."""
    row = _record(
        session,
        user,
        submission_id,
        "reject",
        rank=chosen.rank,
        parcel_id=chosen.parcel_id,
        owner_id=chosen.owner_id,
        confidence=chosen.confidence,
        note=note,
        snapshot=_snapshot(session, submission_id, rows, None),
        model_version=chosen.model_version,
    )
    append_audit(
        session,
        user=user,
        action="reject",
        submission_id=submission_id,
        decision_id=row.id,
        model_version=chosen.model_version,
        detail={"rank": chosen.rank, "parcel_id": chosen.parcel_id, **({"note": note} if note else {})},
    )
    if {p.parcel_id for p in rows} <= rejected_parcels(session, submission_id):
        _close(session, user, submission_id, "none", rows, None, detail={"every_candidate_rejected": True})
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
    rank: int | None = None,
) -> DecisionRow:
    """The reviewer's reading of a field replaces the scanned value under candidate `rank` (default 1): in
    its comparison, its proposed updates and what accepting it exports. The other candidates keep theirs."""
    _hold(session, user, submission_id, ttl)
    new_value = clean(value)
    if not new_value or len(new_value) > MAX_VALUE_LENGTH:
        raise ReviewError("bad_value", 422)
    rows = proposals(session, submission_id)
    candidate = next((p for p in rows if p.rank == (rank or 1)), None)
    if candidate is None and rank is not None:
        raise ReviewError("no_such_candidate", 422)
    known: dict[tuple[str, int | None], Any] = {}
    if candidate is not None:
        proposal = Proposal.model_validate(candidate.payload)
        for ev in proposal.evidence:
            known.setdefault((ev.field, None), ev.scanned)
        for u in proposal.proposed_updates:
            known.setdefault((u.field, u.owner_index), u.scanned_value)
            known.setdefault((u.field, None), u.scanned_value)
    for _row, doc in load_documents(session, submission_id):
        for name, fv in doc.fields.items():
            known.setdefault((name, None), fv.value)
    key = (field_name, owner_index)
    if key not in known:
        raise ReviewError("unknown_field", 422)
    parcel_id = candidate.parcel_id if candidate is not None else None
    old_value = corrections(session, submission_id, parcel_id).get(key, known[key])
    row = _record(
        session,
        user,
        submission_id,
        "correct",
        rank=candidate.rank if candidate is not None else None,
        parcel_id=parcel_id,
        field=field_name,
        owner_index=owner_index,
        old_value=old_value,
        new_value=new_value,
    )
    append_audit(
        session,
        user=user,
        action="correct",
        submission_id=submission_id,
        decision_id=row.id,
        detail={
            "field": field_name,
            "owner_index": owner_index,
            "old": old_value,
            "new": new_value,
            "rank": row.rank,
            "parcel_id": parcel_id,
        },
    )
    return row


def add_note(session: Session, user: UserRow, submission_id: str, note: str) -> DecisionRow:
    """Notes need no lease: anyone reviewing may comment, even on a decided item."""
    get_submission(session, submission_id)
    text = _clean_note(note)
    if not text:
        raise ReviewError("bad_value", 422)
    row = _record(session, user, submission_id, "note", note=text)
    append_audit(
        session, user=user, action="note", submission_id=submission_id, decision_id=row.id, detail={"note": text}
    )
    return row


def last_decision(session: Session, user: UserRow) -> DecisionRow | None:
    return session.scalar(
        select(DecisionRow)
        .where(
            DecisionRow.user_id == user.id,
            DecisionRow.action.in_(UNDOABLE_ACTIONS),
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
    replaced = (row.snapshot or {}).get("replaces")
    if row.action in CLOSING_ACTIONS and replaced:
        # the decision had superseded a "none of these": that one stands again
        session.execute(
            update(DecisionRow)
            .where(DecisionRow.id == replaced)
            .values(undone_at=None, undone_by=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(SubmissionRow)
            .where(SubmissionRow.id == row.submission_id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    elif row.action in CLOSING_ACTIONS:
        flipped = session.execute(
            update(SubmissionRow)
            .where(SubmissionRow.id == row.submission_id, SubmissionRow.review_status == "decided")
            .values(review_status="pending", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if flipped.rowcount != 1:  # type: ignore[attr-defined]
            raise ReviewError("nothing_to_undo")
    elif not resolvable(session, get_submission(session, row.submission_id)):
        raise ReviewError("already_decided")  # a reject under a decision someone made since
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
        .where(DecisionRow.user_id == user.id, DecisionRow.action.in_(UNDOABLE_ACTIONS))
        .order_by(DecisionRow.id.desc())
        .limit(50)
    ).all()
    ids = list(dict.fromkeys(r[0] for r in rows))
    if before in ids:
        later = ids.index(before) + 1
        return ids[later] if later < len(ids) else None
    return ids[0] if ids else None


def reopen(session: Session, admin: UserRow, submission_id: str, reason: str | None) -> DecisionRow:
    """An admin takes a decided item back: its decision is marked undone by them (it stays in the table with
    its snapshot), the item returns to the review queue, and the audit log says who, why, and whether the
    decision had already been sent to VBDLIS."""
    text = _clean_note(reason)
    if not text:
        raise ReviewError("note_required", 422)
    sub = get_submission(session, submission_id)
    standing = standing_decision(session, submission_id)
    if sub.review_status != "decided" or standing is None:
        raise ReviewError("not_decided")
    take_back(session, standing, undone_by=admin.id, queue_reason="reopened")
    sent = session.scalar(
        select(func.count()).select_from(ExportSentRow).where(ExportSentRow.submission_id == submission_id)
    )
    append_audit(
        session,
        user=admin,
        action="reopen",
        submission_id=submission_id,
        decision_id=standing.id,
        model_version=standing.model_version,
        detail={
            "note": text,
            "undone_action": standing.action,
            "parcel_id": standing.parcel_id,
            "rank": standing.rank,
            "review_status": {"old": "decided", "new": "pending"},
            "already_sent": bool(sent),
        },
    )
    log.info("submission %s reopened by %s (decision %d)", submission_id, admin.name, standing.id)
    return standing


SEARCH_NOTE = "found by a reviewer's registry search ({query})"


def add_candidate(
    session: Session,
    user: UserRow,
    submission_id: str,
    parcel_id: str,
    ttl: timedelta,
    assess: Callable[[list[Document], list[str]], list[Proposal]],
    *,
    query: str = "",
) -> int:
    """Put a parcel found by searching the registry among the item's candidates, scored and explained by the
    matcher like any other (`assess` is Matcher.assess); returns its rank. A re-match replaces the
    candidates as a whole, this one included."""
    if not parcel_id.isprintable() or len(parcel_id) > 64:  # no registry id has a control character
        raise ReviewError("no_such_parcel", 404)
    _hold(session, user, submission_id, ttl)
    rows = proposals(session, submission_id)
    existing = next((p for p in rows if p.parcel_id == parcel_id), None)
    if existing is not None:
        return existing.rank
    documents = [doc for _row, doc in load_documents(session, submission_id)]
    assessed = assess(documents, [parcel_id]) if documents else []
    if documents and not assessed:
        raise ReviewError("no_such_parcel", 404)
    if not assessed:
        if not registry_records(session, [parcel_id]):
            raise ReviewError("no_such_parcel", 404)
        assessed = [Proposal(parcel_id=parcel_id, confidence=0.0, band="unlikely")]
    proposal = assessed[0]
    proposal.notes.append(SEARCH_NOTE.format(query=clean(query)[:80]))
    rank = max((p.rank for p in rows), default=0) + 1
    session.add(proposal_row(submission_id, rank, proposal))
    session.flush()
    append_audit(
        session,
        user=user,
        action="add_candidate",
        submission_id=submission_id,
        model_version=proposal.model_version,
        detail={"rank": rank, "parcel_id": parcel_id, "confidence": proposal.confidence, "query": clean(query)[:80]},
    )
    return rank
