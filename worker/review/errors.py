"""The refusal every review operation raises, shared by the service modules and the HTTP layer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from sqlalchemy.orm import Session

from worker.store.results import SubmissionRow

# row ids are 32-bit integers in PostgreSQL; an offset past this is nobody's page (and overflows SQLite)
MAX_ID = 2**31 - 1
MAX_OFFSET = 10**9
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


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
