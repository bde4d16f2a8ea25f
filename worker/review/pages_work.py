"""Pages around the review queue: the exceptions worklist, search and the document browser (submissions,
documents, registry parcels), the second-review sample for quality control, and /metrics."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from worker.review import search, second_review, worklist
from worker.review.auth import DB, check_csrf, has_role, require
from worker.review.errors import MAX_OFFSET, ReviewError
from worker.review.item import item_view
from worker.review.metrics import metrics_response
from worker.review.pages import refresh_worklists, thresholds
from worker.review.rendering import flash, render
from worker.store.results import ProposalRow, SubmissionRow
from worker.store.review import DecisionRow, UserRow

router = APIRouter(include_in_schema=False)

reviewer = require("reviewer")


# --- exceptions -------------------------------------------------------------------------------------------


@router.get("/exceptions")
def exceptions_page(
    request: Request,
    reason: str | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    refresh_worklists(request, db)
    reason = reason if reason in worklist.EXCEPTION_REASONS else None
    items, total = worklist.list_exceptions(db, reason=reason, offset=max(0, offset))
    return render(
        request,
        "exceptions.html",
        {
            "items": items,
            "total": total,
            "reason": reason or "",
            "reasons": worklist.EXCEPTION_REASONS,
            "counts": worklist.exception_counts(db),
            "bands": worklist.band_counts(db),
            "offset": max(0, offset),
        },
        user=user,
    )


# --- search and the document browser -------------------------------------------------------------------


@router.get("/search")
def search_page(
    request: Request,
    q: str = "",
    kind: str = "auto",
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    worklist.sync(db)
    query = search.parse(q, kind if kind in search.KINDS else "auto")
    parcels = search.search_registry(request.app.state.engine, query) if query else []
    submissions = search.search_submissions(db, query) if query else []
    return render(
        request,
        "search.html",
        {"q": q, "kind": kind, "kinds": search.KINDS, "query": query, "parcels": parcels, "submissions": submissions},
        user=user,
    )


@router.get("/parcels/{parcel_id}")
def parcel_page(request: Request, parcel_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    """A registry parcel, and every submission that proposed it or was decided on it."""
    query = search.parse(parcel_id, "parcel")
    hits = search.search_registry(request.app.state.engine, query) if query else []
    if not hits:
        raise ReviewError("not_found", 404)
    related = sorted(
        {
            sid
            for (sid,) in db.execute(
                select(ProposalRow.submission_id)
                .where(ProposalRow.parcel_id == parcel_id)
                .union(select(DecisionRow.submission_id).where(DecisionRow.parcel_id == parcel_id))
            )
        }
    )
    submissions = db.scalars(select(SubmissionRow).where(or_(SubmissionRow.id.in_(related)))).all() if related else []
    return render(request, "parcel.html", {"parcel": hits[0].record, "submissions": submissions}, user=user)


# --- second review ------------------------------------------------------------------------------------------


@router.get("/second-review")
def second_review_page(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    rate = thresholds(request, db).second_review_rate
    return render(
        request,
        "second_review.html",
        {
            "rate": rate,
            "waiting": second_review.waiting_count(db, user, rate),
            "agreement": second_review.agreement(db),
            "disagreements": second_review.disagreements(db) if has_role(user, "admin") else [],
        },
        user=user,
    )


@router.post("/second-review/next", dependencies=[Depends(check_csrf)])
def second_review_next(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    sid = second_review.next_sampled(db, user, thresholds(request, db).second_review_rate)
    if sid is None:
        flash(request, "second_review_empty")
        return RedirectResponse("/second-review", status_code=303)
    return RedirectResponse(f"/second-review/{sid}", status_code=303)


@router.get("/second-review/{submission_id}")
def second_review_item(
    request: Request, submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB
) -> Response:
    """The item without its decision or history: the second reviewer decides blind."""
    item = item_view(db, submission_id, user)
    if item["decision"] is None:
        raise ReviewError("not_decided")
    return render(request, "second_review_item.html", {"item": item, "selected": 1}, user=user)


@router.post("/second-review/{submission_id}", dependencies=[Depends(check_csrf)])
def second_review_decide(
    request: Request,
    submission_id: str,
    action: str = Form(...),
    parcel_id: str | None = Form(None),
    note: str | None = Form(None),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    row = second_review.record(db, user, submission_id, action, parcel_id=parcel_id, note=note)
    flash(request, "second_review_agrees" if row.agrees else "second_review_differs", "success")
    sid = second_review.next_sampled(db, user, thresholds(request, db).second_review_rate)
    return RedirectResponse(f"/second-review/{sid}" if sid else "/second-review", status_code=303)


# --- metrics ------------------------------------------------------------------------------------------------


@router.get("/metrics")
def metrics(request: Request, db: Session = DB) -> Response:
    """Prometheus text: the human backlog (review queue by band, exceptions by reason) and export progress.
    Counts only, no personal data, so a scraper needs no login (as the worker's /metrics)."""
    refresh_worklists(request, db)
    return metrics_response(db)
