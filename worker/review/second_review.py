"""Quality control: a sample of reviewers' decisions is decided again, blind, by another reviewer, and each
reviewer's agreement rate is reported with its uncertainty.

Which decisions are sampled is a deterministic draw on the decision id (the same answer whichever process
asks, and a later change of the rate does not re-draw old work). A disagreement is recorded and shown to
admins, who can reopen the item; the first decision stands until then."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from worker.review.errors import ReviewError, get_submission
from worker.store.results import utcnow
from worker.store.review import DecisionRow, UserRow, append_audit, standing_decision
from worker.store.worklist import SecondReviewRow

# the decisions a second reviewer can judge: which parcel (or none, or a new record) is right
CHECKED_ACTIONS = ("accept", "none", "new_record")
SECOND_ACTIONS = ("accept", "none", "new_record", "rescan")


def sampled(decision_id: int, rate: float) -> bool:
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"second-review:{decision_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _waiting(session: Session, user: UserRow, rate: float, limit: int = 200) -> list[DecisionRow]:
    reviewed = exists().where(SecondReviewRow.decision_id == DecisionRow.id)
    rows = session.scalars(
        select(DecisionRow)
        .where(
            DecisionRow.action.in_(CHECKED_ACTIONS),
            DecisionRow.undone_at.is_(None),
            DecisionRow.user_id != user.id,
            ~reviewed,
        )
        .order_by(DecisionRow.id)
        .limit(limit * 20)
    )
    return [r for r in rows if sampled(r.id, rate)][:limit]


def waiting_count(session: Session, user: UserRow, rate: float) -> int:
    return len(_waiting(session, user, rate))


def next_sampled(session: Session, user: UserRow, rate: float, *, skip: str | None = None) -> str | None:
    """The oldest sampled decision by someone else that nobody has checked yet (its submission id)."""
    for row in _waiting(session, user, rate, limit=20):
        if row.submission_id != skip:
            return row.submission_id
    return None


def record(
    session: Session,
    user: UserRow,
    submission_id: str,
    action: str,
    *,
    parcel_id: str | None = None,
    note: str | None = None,
) -> SecondReviewRow:
    """The second reviewer's verdict on the standing decision; they never see the first one first."""
    if action not in SECOND_ACTIONS:
        raise ReviewError("bad_action", 422)
    get_submission(session, submission_id)
    first = standing_decision(session, submission_id)
    if first is None or first.action not in CHECKED_ACTIONS:
        raise ReviewError("not_decided")
    if first.user_id == user.id:
        raise ReviewError("own_decision", 403)
    if session.scalar(select(SecondReviewRow.id).where(SecondReviewRow.decision_id == first.id)) is not None:
        raise ReviewError("already_second_reviewed")
    agrees = action == first.action and (action != "accept" or parcel_id == first.parcel_id)
    row = SecondReviewRow(
        decision_id=first.id,
        submission_id=submission_id,
        first_user_id=first.user_id,
        second_user_id=user.id,
        action=action,
        parcel_id=parcel_id if action == "accept" else None,
        agrees=agrees,
        note=(note or "").strip()[:2000] or None,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    first_name = session.get(UserRow, first.user_id)
    append_audit(
        session,
        user=user,
        action="second_review",
        submission_id=submission_id,
        decision_id=first.id,
        detail={
            "agrees": agrees,
            "first": {
                "action": first.action,
                "parcel_id": first.parcel_id,
                "by": first_name.name if first_name else None,
            },
            "second": {"action": action, "parcel_id": row.parcel_id},
            **({"note": row.note} if row.note else {}),
        },
    )
    return row


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float | None:
    """The lower end of the 95% Wilson interval of a proportion (None without data)."""
    if n == 0:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


@dataclass
class Agreement:
    reviewer: str
    decisions: int
    checked: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.checked if self.checked else None

    @property
    def lower(self) -> float | None:
        return wilson_lower(self.agreed, self.checked)


def agreement(session: Session) -> list[Agreement]:
    """Per reviewer: standing decisions, how many a second reviewer checked, and how many they agreed with."""
    names = dict(session.execute(select(UserRow.id, UserRow.name)).all())
    stats: dict[int, Agreement] = {}
    for (uid,) in session.execute(
        select(DecisionRow.user_id).where(DecisionRow.action.in_(CHECKED_ACTIONS), DecisionRow.undone_at.is_(None))
    ):
        stats.setdefault(uid, Agreement(names.get(uid, "?"), 0, 0, 0)).decisions += 1
    for uid, agrees in session.execute(select(SecondReviewRow.first_user_id, SecondReviewRow.agrees)):
        entry = stats.setdefault(uid, Agreement(names.get(uid, "?"), 0, 0, 0))
        entry.checked += 1
        entry.agreed += int(agrees)
    return sorted(stats.values(), key=lambda a: a.reviewer)


def disagreements(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Checked decisions the second reviewer disagreed with and that still stand (an admin should look)."""
    names = dict(session.execute(select(UserRow.id, UserRow.name)).all())
    rows = session.execute(
        select(SecondReviewRow, DecisionRow)
        .join(DecisionRow, DecisionRow.id == SecondReviewRow.decision_id)
        .where(SecondReviewRow.agrees.is_(False), DecisionRow.undone_at.is_(None))
        .order_by(SecondReviewRow.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "submission_id": second.submission_id,
            "first": {"action": first.action, "parcel_id": first.parcel_id, "by": names.get(first.user_id)},
            "second": {"action": second.action, "parcel_id": second.parcel_id, "by": names.get(second.second_user_id)},
            "at": second.created_at,
            "note": second.note,
        }
        for second, first in rows
    ]
