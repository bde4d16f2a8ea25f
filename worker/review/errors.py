"""The refusal every review operation raises, shared by the service modules and the HTTP layer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from worker.store.results import SubmissionRow


class ReviewError(Exception):
    """A refused request; `key` is an i18n message key, `status` the HTTP status the routes answer with."""

    def __init__(self, key: str, status: int = 409, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.params = params


def get_submission(session: Session, submission_id: str) -> SubmissionRow:
    sub = session.get(SubmissionRow, submission_id)
    if sub is None:
        raise ReviewError("not_found", 404)
    return sub
