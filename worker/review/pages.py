"""Server-rendered pages. Forms post back here (CSRF token in a hidden field) and redirect (POST/redirect/GET),
so the browser's back button and reload never repeat a decision."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.review import decisions, i18n, new_record, search, service, uploads, worklist
from worker.review.auth import (
    DB,
    attempt_login,
    check_csrf,
    current_user,
    has_role,
    require,
)
from worker.review.errors import MAX_OFFSET, RowId, get_submission
from worker.review.images import document_image
from worker.review.item import item_view, load_documents
from worker.review.rendering import flash, render
from worker.review.service import QueueFilter
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import (
    ReviewQueueRow,
    ReviewThresholds,
    UploadRow,
    UserRow,
    append_audit,
    aware,
    get_thresholds,
    release_leases,
)

router = APIRouter(include_in_schema=False)

clerk = require("clerk")
reviewer = require("reviewer")
admin = require("admin")


def thresholds(request: Request, db: Session) -> ReviewThresholds:
    return get_thresholds(db, request.app.state.settings)


def lease_ttl(thr: ReviewThresholds) -> timedelta:
    return timedelta(minutes=thr.lease_minutes)


def undo_window(thr: ReviewThresholds) -> timedelta:
    return timedelta(seconds=thr.undo_seconds)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: an attacker's link must not turn the login page into an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def parse_number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def parse_filter(params: Any) -> QueueFilter:
    band = params.get("band") or None
    age = params.get("age") or None
    status = params.get("status") or "waiting"
    try:
        offset = min(MAX_OFFSET, max(0, int(params.get("offset") or 0)))
    except ValueError:
        offset = 0
    return QueueFilter(
        band=band if band in ("review", "auto_accept") else None,
        min_confidence=parse_number(params.get("min_confidence")),
        max_confidence=parse_number(params.get("max_confidence")),
        commune=(params.get("commune") or "").strip() or None,
        doc_type=params.get("doc_type") or None,
        age=age if age in service.AGE_FILTERS else None,
        status=status if status in service.STATUS_FILTERS else "waiting",
        offset=offset,
    )


def filter_query(f: QueueFilter) -> dict[str, str]:
    values = {
        "band": f.band,
        "min_confidence": f.min_confidence,
        "max_confidence": f.max_confidence,
        "commune": f.commune,
        "doc_type": f.doc_type,
        "age": f.age,
        "status": f.status if f.status != "waiting" else None,
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def undo_offer(db: Session, user: UserRow, thr: ReviewThresholds) -> dict[str, Any] | None:
    """The user's last decision while it can still be undone (the banner with the U shortcut)."""
    last = decisions.last_decision(db, user)
    if last is None:
        return None
    decided_at = aware(last.decided_at)
    assert decided_at is not None
    left = thr.undo_seconds - (utcnow() - decided_at).total_seconds()
    if left <= 0:
        return None
    return {"submission_id": last.submission_id, "action": last.action, "rank": last.rank, "seconds_left": int(left)}


# --- login ------------------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str | None = None, user: UserRow | None = Depends(current_user)) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next, "")})


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),
    db: Session = DB,
) -> Response:
    name = " ".join(name.split())
    result = await attempt_login(request, db, name, password)
    if result.status in ("throttled", "busy"):
        wait = int(result.wait_s) + 1
        return render(
            request,
            "login.html",
            {"next": next, "name": name, "error": "login_throttled", "wait": wait},
            status_code=429,
        )
    if result.user is None:
        return render(request, "login.html", {"next": next, "name": name, "error": "login_failed"}, status_code=401)
    user = result.user
    lang = request.session.get("lang") or user.lang
    # a fresh session (and CSRF token) on login: a cookie planted before login is worth nothing after it
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch, "lang": lang})
    return RedirectResponse(safe_next(next, "/"), status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, user: UserRow = Depends(clerk), db: Session = DB) -> Response:
    append_audit(db, user=user, action="logout")
    # the session lives in the signed cookie: bumping the epoch is what makes a copied cookie worthless
    user.session_epoch += 1
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def set_language(request: Request, code: str, next: str | None = None, db: Session = DB) -> Response:
    """Language is a preference, not a privilege: allowed before login so the login page can be read."""
    if code in i18n.LANGUAGES:
        request.session["lang"] = code
        user = current_user(request, db)
        if user is not None:
            user.lang = code
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/")
def home(user: UserRow = Depends(clerk)) -> Response:
    return RedirectResponse("/queue" if has_role(user, "reviewer") else "/upload", status_code=303)


@router.get("/healthz")
async def healthz() -> dict[str, bool]:
    # on the event loop, not the request thread pool: it answers while a login flood fills that pool
    return {"ok": True}


# --- queue ------------------------------------------------------------------------------------------------


def refresh_worklists(request: Request, db: Session) -> ReviewThresholds:
    """Bring the review queue and the exceptions worklist up to date with what the workers stored."""
    thr = thresholds(request, db)
    service.sync_queue(db, thr)
    worklist.sync(db)
    return thr


@router.get("/queue")
def queue_page(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    thr = refresh_worklists(request, db)
    f = parse_filter(request.query_params)
    items, total = service.list_queue(db, f)
    communes = sorted(
        c
        for (c,) in db.execute(
            select(SubmissionRow.commune_code)
            .join(ReviewQueueRow, ReviewQueueRow.submission_id == SubmissionRow.id)
            .distinct()
        )
        if c
    )
    return render(
        request,
        "queue.html",
        {
            "items": items,
            "total": total,
            "counts": service.queue_counts(db),
            "bands": worklist.band_counts(db),
            "exceptions": worklist.exception_counts(db),
            "f": f,
            "fq": filter_query(f),
            "communes": communes,
            "unit_names": i18n.UNIT_NAMES,
            "doc_types": i18n.DOC_TYPE_KEYS,
            "undo": undo_offer(db, user, thr),
            "next_offset": f.offset + f.limit if f.offset + f.limit < total else None,
            "prev_offset": max(0, f.offset - f.limit) if f.offset else None,
        },
        user=user,
    )


@router.post("/queue/next", dependencies=[Depends(check_csrf)])
def take_next(
    request: Request,
    band: str | None = Form(None),
    min_confidence: str | None = Form(None),
    max_confidence: str | None = Form(None),
    commune: str | None = Form(None),
    doc_type: str | None = Form(None),
    age: str | None = Form(None),
    skip: str | None = Form(None),
    src: str | None = Form(None),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    f = parse_filter(
        {
            "band": band,
            "min_confidence": min_confidence,
            "max_confidence": max_confidence,
            "commune": commune,
            "doc_type": doc_type,
            "age": age,
        }
    )
    thr = thresholds(request, db)
    service.sync_queue(db, thr)
    skipped = list(request.session.get("skipped", []))
    if skip:
        skipped = [*skipped[-19:], skip]  # skipping keeps an item out of this reviewer's way for a while
        request.session["skipped"] = skipped
    if src == "exceptions":
        worklist.sync(db)
        sid = worklist.take_next_exception(db, user, lease_ttl(thr), exclude=skipped)
        if sid is None:
            flash(request, "exceptions_empty")
            return RedirectResponse("/exceptions", status_code=303)
        return RedirectResponse(f"/items/{sid}?src=exceptions", status_code=303)
    sid = service.take_next(db, user, f, lease_ttl(thr), exclude=skipped)
    query = urlencode(filter_query(f))
    if sid is None:
        flash(request, "queue_empty")
        return RedirectResponse("/queue" + (f"?{query}" if query else ""), status_code=303)
    return RedirectResponse(f"/items/{sid}" + (f"?{query}" if query else ""), status_code=303)


# --- item -------------------------------------------------------------------------------------------------


def _search_panel(request: Request, db: Session, item: dict[str, Any], q: str | None, kind: str) -> dict[str, Any]:
    """The registry search on the item page: prefilled with the scans' best key, results when asked."""
    documents = item["documents"]
    suggestions = []
    for d in documents:
        for fv in d["fields"]:
            if fv["name"] in ("id_number", "certificate_serial", "full_name") and fv["value"]:
                suggestions.append(str(fv["value"]))
            if fv["name"] == "map_sheet_number" and fv["value"] is not None:
                number = next((x["value"] for x in d["fields"] if x["name"] == "parcel_number"), None)
                if number is not None:
                    suggestions.append(f"{fv['value']}/{number}")
    panel: dict[str, Any] = {"q": q or "", "kind": kind, "suggestions": list(dict.fromkeys(suggestions))[:5]}
    query = search.parse(q or "", kind if kind in search.KINDS else "auto")
    if query is not None:
        panel["parsed"] = query
        panel["hits"] = search.search_registry(request.app.state.engine, query)
        candidates = {c["parcel_id"]: c["rank"] for c in item["candidates"]}
        panel["ranks"] = candidates
    return panel


@router.get("/items/{submission_id}")
def item_page(
    request: Request,
    submission_id: str,
    c: int | None = None,
    q: str | None = None,
    kind: str = "auto",
    src: str | None = None,
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    thr = thresholds(request, db)
    sub = get_submission(db, submission_id)
    docs = load_documents(db, submission_id)
    item = item_view(db, submission_id, user, sub=sub, docs=docs, exception=worklist.sync_one(db, sub))
    open_ranks = [cand["rank"] for cand in item["candidates"] if not cand["rejected"]]
    selected = c or (item["decision"]["rank"] if item["decision"] and item["decision"]["rank"] else None)
    if selected is None or not any(cand["rank"] == selected for cand in item["candidates"]):
        selected = (open_ranks or [cand["rank"] for cand in item["candidates"]] or [1])[0]
    resolvable = sub.review_status != "decided" or (item["decision"] or {}).get("action") == "none"
    f = parse_filter(request.query_params)
    documents = [doc for _row, doc in docs]
    return render(
        request,
        "item.html",
        {
            "item": item,
            "selected": selected,
            "thr": thr,
            "fq": filter_query(f),
            "src": "exceptions" if src == "exceptions" or item["exception_open"] else "",
            "undo": undo_offer(db, user, thr),
            "resolvable": resolvable,
            "editable": resolvable and (item["lease"]["held_by_me"] or item["lease"]["holder"] is None),
            "search": _search_panel(request, db, item, q, kind),
            "new_record": new_record.new_record_draft(documents, item["commune_code"]),
            "new_record_fields": new_record.NEW_RECORD_FIELDS,
            "unit_names": i18n.UNIT_NAMES,
            "is_admin": has_role(user, "admin"),
        },
        user=user,
    )


@router.get("/items/{submission_id}/documents/{document_id}/image")
def item_image(
    request: Request,
    submission_id: str,
    document_id: RowId,
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    data, media_type = document_image(
        db, request.app.state.settings, request.app.state.s3_client, document_id, submission_id
    )
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=600"})


@router.post("/items/{submission_id}/take", dependencies=[Depends(check_csrf)])
def take_item(request: Request, submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    service.take_item(db, user, submission_id, lease_ttl(thresholds(request, db)))
    return RedirectResponse(f"/items/{submission_id}", status_code=303)


@router.post("/items/{submission_id}/release", dependencies=[Depends(check_csrf)])
def release_item(request: Request, submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    service.release_item(db, user, submission_id)
    return RedirectResponse("/queue", status_code=303)


def _new_record_fields(form: Any) -> dict[str, Any]:
    return {name: form.get(f"nr_{name}") for name in new_record.NEW_RECORD_FIELDS if form.get(f"nr_{name}")}


@router.post("/items/{submission_id}/decide", dependencies=[Depends(check_csrf)])
async def decide(
    request: Request,
    submission_id: str,
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    rank = _int(form.get("rank"))
    src = "exceptions" if form.get("src") == "exceptions" else ""
    thr = thresholds(request, db)
    row = decisions.decide(
        db,
        user,
        submission_id,
        action,
        lease_ttl(thr),
        rank=rank,
        proposal_id=_int(form.get("proposal_id")),
        note=str(form["note"]) if form.get("note") else None,
        new_record=_new_record_fields(form) if action == "new_record" else None,
    )
    sub = db.get(SubmissionRow, submission_id)
    if action == "reject" and sub is not None and sub.review_status != "decided":
        # one candidate judged wrong: on to the next one of the same item
        nxt = decisions.next_open_rank(db, submission_id, row.rank)
        flash(request, "decided_reject", "success", submission_id=submission_id, rank=row.rank or "")
        query = {"c": nxt, "src": src} if src else {"c": nxt}
        return RedirectResponse(f"/items/{submission_id}?{urlencode(query)}", status_code=303)
    if form.get("next", "next") != "next" or thr.undo_seconds < 1:
        # otherwise the undo offer on the next page says what was decided
        flash(request, f"decided_{action}", "success", submission_id=submission_id, rank=row.rank or "")
    if form.get("next", "next") != "next":
        return RedirectResponse(f"/items/{submission_id}", status_code=303)
    # straight on to the next item of the same list: the reviewer's day is a stream of decisions
    skipped = request.session.get("skipped", [])
    if src == "exceptions":
        worklist.sync(db)
        sid = worklist.take_next_exception(db, user, lease_ttl(thr), exclude=skipped)
        return RedirectResponse(f"/items/{sid}?src=exceptions" if sid else "/exceptions", status_code=303)
    sid = service.take_next(db, user, parse_filter(request.query_params), lease_ttl(thr), exclude=skipped)
    return RedirectResponse(f"/items/{sid}" if sid else "/queue", status_code=303)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@router.post("/items/{submission_id}/correct", dependencies=[Depends(check_csrf)])
def correct(
    request: Request,
    submission_id: str,
    field: str = Form(...),
    value: str = Form(...),
    owner_index: int | None = Form(None),
    c: int | None = Form(None),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    thr = thresholds(request, db)
    decisions.correct(db, user, submission_id, field, value, lease_ttl(thr), owner_index=owner_index, rank=c)
    flash(request, "corrected", "success", field=field)
    return RedirectResponse(f"/items/{submission_id}" + (f"?c={c}" if c else ""), status_code=303)


@router.post("/items/{submission_id}/candidates", dependencies=[Depends(check_csrf)])
def add_candidate(
    request: Request,
    submission_id: str,
    parcel_id: str = Form(...),
    q: str = Form(""),
    src: str = Form(""),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    thr = thresholds(request, db)
    rank = decisions.add_candidate(
        db, user, submission_id, parcel_id.strip(), lease_ttl(thr), request.app.state.assess, query=q
    )
    flash(request, "candidate_added", "success", parcel_id=parcel_id, rank=rank)
    query = {"c": rank, **({"src": "exceptions"} if src == "exceptions" else {})}
    return RedirectResponse(f"/items/{submission_id}?{urlencode(query)}", status_code=303)


@router.post("/items/{submission_id}/note", dependencies=[Depends(check_csrf)])
def note(
    request: Request,
    submission_id: str,
    note: str = Form(...),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    decisions.add_note(db, user, submission_id, note)
    flash(request, "note_added", "success")
    return RedirectResponse(f"/items/{submission_id}", status_code=303)


@router.post("/items/{submission_id}/reopen", dependencies=[Depends(check_csrf)])
def reopen(
    request: Request,
    submission_id: str,
    reason: str = Form(""),
    user: UserRow = Depends(admin),
    db: Session = DB,
) -> Response:
    decisions.reopen(db, user, submission_id, reason)
    flash(request, "reopened", "success", submission_id=submission_id)
    return RedirectResponse(f"/items/{submission_id}", status_code=303)


@router.post("/undo", dependencies=[Depends(check_csrf)])
def undo(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    thr = thresholds(request, db)
    # the item the reviewer had moved on to goes back to the queue
    row = decisions.undo_last(db, user, undo_window(thr), lease_ttl(thr))
    release_leases(db, user.id, except_submission=row.submission_id)
    flash(request, "undone", "success", submission_id=row.submission_id)
    return RedirectResponse(f"/items/{row.submission_id}", status_code=303)


@router.get("/items/{submission_id}/previous")
def previous(submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    sid = decisions.previous_item(db, user, before=submission_id)
    return RedirectResponse(f"/items/{sid}" if sid else f"/items/{submission_id}", status_code=303)


# --- audit ------------------------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    who: str | None = None,
    action: str | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> Response:
    entries = service.list_audit(db, user=who or None, action=action or None, offset=max(0, offset))
    return render(
        request,
        "audit.html",
        {"entries": entries, "who": who or "", "action": action or "", "offset": offset, "actions": i18n.AUDIT_ACTIONS},
        user=user,
    )


# --- upload -----------------------------------------------------------------------------------------------


@router.get("/upload")
def upload_page(request: Request, user: UserRow = Depends(clerk)) -> Response:
    return render(
        request,
        "upload.html",
        {"suffixes": sorted(uploads.UPLOAD_SUFFIXES), "max_mb": request.app.state.settings.max_file_bytes // 2**20},
        user=user,
    )


def store_upload(
    request: Request, db: Session, user: UserRow, files: list[UploadFile], case_number: str, applicant: str
) -> UploadRow:
    """The uploaded files, stored where the app's settings say (bucket or inbox) as one new submission."""
    state = request.app.state
    incoming = [uploads.IncomingFile(f.filename or "scan", f.file) for f in files]
    return uploads.save_upload(
        db, user, incoming, state.settings, state.s3_client, case_number=case_number, applicant=applicant
    )


@router.post("/upload", dependencies=[Depends(check_csrf)])
def upload(
    request: Request,
    files: list[UploadFile] = File(default_factory=list),
    case_number: str = Form(""),
    applicant: str = Form(""),
    user: UserRow = Depends(clerk),
    db: Session = DB,
) -> Response:
    row = store_upload(request, db, user, [f for f in files if f.filename], case_number, applicant)
    flash(request, "uploaded", "success", submission_id=row.case_number or row.submission_id, files=len(row.files))
    return RedirectResponse(f"/jobs?highlight={row.submission_id}", status_code=303)


@router.get("/jobs")
def jobs_page(
    request: Request,
    highlight: str | None = None,
    mine: bool = False,
    user: UserRow = Depends(clerk),
    db: Session = DB,
) -> Response:
    refresh_worklists(request, db)
    rows = uploads.upload_status(db, user_id=user.id if mine or not has_role(user, "admin") else None)
    return render(request, "jobs.html", {"uploads": rows, "highlight": highlight, "mine": mine}, user=user)
