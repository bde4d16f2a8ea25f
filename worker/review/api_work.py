"""The JSON API of the worklists around the review queue (/api/...): the exceptions worklist, search, the
second-review sample and the export to VBDLIS. Same authentication and CSRF rules as worker/review/api.py."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from worker.review import search, second_review, worklist
from worker.review.api import Lease
from worker.review.auth import DB, check_csrf, require
from worker.review.errors import MAX_OFFSET
from worker.review.pages import lease_ttl, refresh_worklists, thresholds
from worker.review.pages_admin import export_filter, export_response
from worker.review.rendering import current_lang
from worker.store.results import utcnow
from worker.store.review import UserRow

router = APIRouter(prefix="/api", tags=["worklists"])

reviewer = require("reviewer")
admin = require("admin")
csrf = [Depends(check_csrf)]


class SecondReviewBody(BaseModel):
    action: Literal["accept", "none", "new_record", "rescan"]
    parcel_id: str | None = None
    note: str | None = None


class ExportSendBody(BaseModel):
    format: Literal["csv", "json", "xlsx"] = "csv"
    since: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    commune: str | None = None


# --- exceptions, search, second review -----------------------------------------------------------------


@router.get("/exceptions", summary="The exceptions worklist (no match, unlikely only, unknown page, failed file ...)")
def exceptions(
    request: Request,
    reason: str | None = None,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> dict[str, Any]:
    refresh_worklists(request, db)
    items, total = worklist.list_exceptions(db, reason=reason, limit=limit, offset=offset)
    return {"items": [it.__dict__ for it in items], "total": total, "counts": worklist.exception_counts(db)}


@router.post("/exceptions/next", response_model=Lease, dependencies=csrf, summary="Take the next exception")
def take_next_exception(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> Lease:
    thr = refresh_worklists(request, db)
    sid = worklist.take_next_exception(db, user, lease_ttl(thr))
    return Lease(submission_id=sid, expires_at=utcnow() + lease_ttl(thr) if sid else None)


@router.get("/search", summary="Registry parcels and submissions by ID number, name, serial, sheet/parcel, address")
def search_all(
    request: Request,
    q: str = Query(..., min_length=1, max_length=200),
    kind: Literal["auto", "id", "name", "serial", "ref", "address", "parcel", "case"] = "auto",
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> dict[str, Any]:
    worklist.sync(db)
    query = search.parse(q, kind)
    if query is None:
        return {"kind": kind, "parcels": [], "submissions": []}
    return {
        "kind": query.kind,
        "key": query.key,
        "parcels": [h.__dict__ for h in search.search_registry(request.app.state.engine, query)],
        "submissions": [h.__dict__ for h in search.search_submissions(db, query)],
    }


@router.get("/second-review", summary="Per-reviewer agreement of the second-review sample")
def second_review_stats(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> dict[str, Any]:
    rate = thresholds(request, db).second_review_rate
    return {
        "rate": rate,
        "waiting": second_review.waiting_count(db, user, rate),
        "agreement": [{**a.__dict__, "rate": a.rate, "lower_95": a.lower} for a in second_review.agreement(db)],
    }


@router.post("/second-review/{submission_id}", dependencies=csrf, summary="Record a blind second decision")
def second_review_record(
    submission_id: str, body: SecondReviewBody, user: UserRow = Depends(reviewer), db: Session = DB
) -> dict[str, Any]:
    row = second_review.record(db, user, submission_id, body.action, parcel_id=body.parcel_id, note=body.note)
    return {"decision_id": row.decision_id, "agrees": row.agrees}


# --- export -----------------------------------------------------------------------------------------------


@router.post(
    "/export",
    dependencies=csrf,
    summary="Changes for VBDLIS not sent yet (one row per parcel-owner change), nothing marked sent; include_sent "
    "lists the rest too; audited",
)
def export_changes(
    request: Request,
    format: Literal["json", "csv", "xlsx"] = "json",
    since: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    commune: str | None = None,
    include_sent: bool = False,
    batch: int | None = None,
    user: UserRow = Depends(admin),
    db: Session = DB,
) -> Response:
    worklist.sync(db)
    f = export_filter(
        {
            "since": since,
            "date_from": date_from,
            "date_to": date_to,
            "commune": commune,
            "include_sent": "1" if include_sent else "",
            "batch": str(batch) if batch is not None else "",
        }
    )
    return export_response(db, user, format, f, lang=current_lang(request))


@router.post(
    "/export/send", dependencies=csrf, summary="The changes not sent yet, recorded as sent (a new export batch)"
)
def export_send(request: Request, body: ExportSendBody, user: UserRow = Depends(admin), db: Session = DB) -> Response:
    worklist.sync(db)
    f = export_filter(body.model_dump(exclude={"format"}))
    return export_response(db, user, body.format, f, lang=current_lang(request), mark_sent=True)
