"""Server-rendered pages. Forms post back here (CSRF token in a hidden field) and redirect (POST/redirect/GET),
so the browser's back button and reload never repeat a decision."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.review import i18n, service
from worker.review.app import flash, render
from worker.review.auth import (
    attempt_login,
    check_csrf,
    check_password_policy,
    create_user,
    current_user,
    db_session,
    has_role,
    hash_password,
    require,
)
from worker.review.images import document_image
from worker.review.service import QueueFilter, ReviewError
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import (
    ROLES,
    SETTING_KEYS,
    ReviewQueueRow,
    ReviewThresholds,
    UserRow,
    append_audit,
    aware,
    get_thresholds,
    release_leases,
    save_setting,
)

router = APIRouter(include_in_schema=False)

# row ids are 32-bit integers in PostgreSQL; an offset past this is nobody's page (and overflows SQLite)
MAX_ID = 2**31 - 1
MAX_OFFSET = 10**9
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

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


def _float(value: str | None) -> float | None:
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
        min_confidence=_float(params.get("min_confidence")),
        max_confidence=_float(params.get("max_confidence")),
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
    last = service.last_decision(db, user)
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
    db: Session = Depends(db_session),
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
def logout(request: Request, user: UserRow = Depends(clerk), db: Session = Depends(db_session)) -> Response:
    append_audit(db, user=user, action="logout")
    # the session lives in the signed cookie: bumping the epoch is what makes a copied cookie worthless
    user.session_epoch += 1
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def set_language(request: Request, code: str, next: str | None = None, db: Session = Depends(db_session)) -> Response:
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


@router.get("/queue")
def queue_page(request: Request, user: UserRow = Depends(reviewer), db: Session = Depends(db_session)) -> Response:
    thr = thresholds(request, db)
    service.sync_queue(db, thr)
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
            "f": f,
            "fq": filter_query(f),
            "communes": communes,
            "unit_names": i18n.UNIT_NAMES,
            "doc_types": i18n.DOC_TYPE_KEYS,
            "undo": undo_offer(db, user, thr),
            "next_offset": f.offset + f.limit if f.offset + f.limit < total else None,
            "prev_offset": max(0, f.offset - f.limit) if f.offset else None,
            "urlencode": urlencode,
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
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
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
    sid = service.take_next(db, user, f, lease_ttl(thr), exclude=skipped)
    query = urlencode(filter_query(f))
    if sid is None:
        flash(request, "queue_empty")
        return RedirectResponse("/queue" + (f"?{query}" if query else ""), status_code=303)
    return RedirectResponse(f"/items/{sid}" + (f"?{query}" if query else ""), status_code=303)


# --- item -------------------------------------------------------------------------------------------------


@router.get("/items/{submission_id}")
def item_page(
    request: Request,
    submission_id: str,
    c: int | None = None,
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
) -> Response:
    thr = thresholds(request, db)
    item = service.item_view(db, submission_id, user)
    selected = c or (item["decision"]["rank"] if item["decision"] and item["decision"]["rank"] else 1)
    if item["candidates"] and not any(cand["rank"] == selected for cand in item["candidates"]):
        selected = item["candidates"][0]["rank"]
    f = parse_filter(request.query_params)
    return render(
        request,
        "item.html",
        {
            "item": item,
            "selected": selected,
            "thr": thr,
            "fq": filter_query(f),
            "undo": undo_offer(db, user, thr),
            "editable": item["review_status"] != "decided"
            and (item["lease"]["held_by_me"] or item["lease"]["holder"] is None),
        },
        user=user,
    )


@router.get("/items/{submission_id}/documents/{document_id}/image")
def item_image(
    request: Request,
    submission_id: str,
    document_id: RowId,
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
) -> Response:
    data, media_type = document_image(
        db, request.app.state.settings, request.app.state.s3_client, document_id, submission_id
    )
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=600"})


@router.post("/items/{submission_id}/take", dependencies=[Depends(check_csrf)])
def take_item(
    request: Request, submission_id: str, user: UserRow = Depends(reviewer), db: Session = Depends(db_session)
) -> Response:
    service.take_item(db, user, submission_id, lease_ttl(thresholds(request, db)))
    return RedirectResponse(f"/items/{submission_id}", status_code=303)


@router.post("/items/{submission_id}/release", dependencies=[Depends(check_csrf)])
def release_item(
    request: Request, submission_id: str, user: UserRow = Depends(reviewer), db: Session = Depends(db_session)
) -> Response:
    service.release_item(db, user, submission_id)
    return RedirectResponse("/queue", status_code=303)


@router.post("/items/{submission_id}/decide", dependencies=[Depends(check_csrf)])
def decide(
    request: Request,
    submission_id: str,
    action: str = Form(...),
    rank: int | None = Form(None),
    proposal_id: int | None = Form(None),
    note: str | None = Form(None),
    next: str = Form("next"),
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
) -> Response:
    thr = thresholds(request, db)
    row = service.decide(db, user, submission_id, action, lease_ttl(thr), rank=rank, proposal_id=proposal_id, note=note)
    if next != "next" or thr.undo_seconds < 1:
        # otherwise the undo offer on the next page says what was decided
        flash(request, f"decided_{action}", "success", submission_id=submission_id, rank=row.rank or "")
    if next != "next":
        return RedirectResponse(f"/items/{submission_id}", status_code=303)
    # straight on to the next item: the reviewer's day is a stream of decisions
    skipped = request.session.get("skipped", [])
    sid = service.take_next(db, user, parse_filter(request.query_params), lease_ttl(thr), exclude=skipped)
    return RedirectResponse(f"/items/{sid}" if sid else "/queue", status_code=303)


@router.post("/items/{submission_id}/correct", dependencies=[Depends(check_csrf)])
def correct(
    request: Request,
    submission_id: str,
    field: str = Form(...),
    value: str = Form(...),
    owner_index: int | None = Form(None),
    c: int | None = Form(None),
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
) -> Response:
    thr = thresholds(request, db)
    service.correct(db, user, submission_id, field, value, lease_ttl(thr), owner_index=owner_index)
    flash(request, "corrected", "success", field=field)
    return RedirectResponse(f"/items/{submission_id}" + (f"?c={c}" if c else ""), status_code=303)


@router.post("/items/{submission_id}/note", dependencies=[Depends(check_csrf)])
def note(
    request: Request,
    submission_id: str,
    note: str = Form(...),
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
) -> Response:
    service.add_note(db, user, submission_id, note)
    flash(request, "note_added", "success")
    return RedirectResponse(f"/items/{submission_id}", status_code=303)


@router.post("/undo", dependencies=[Depends(check_csrf)])
def undo(request: Request, user: UserRow = Depends(reviewer), db: Session = Depends(db_session)) -> Response:
    thr = thresholds(request, db)
    # the item the reviewer had moved on to goes back to the queue
    row = service.undo_last(db, user, undo_window(thr), lease_ttl(thr))
    release_leases(db, user.id, except_submission=row.submission_id)
    flash(request, "undone", "success", submission_id=row.submission_id)
    return RedirectResponse(f"/items/{row.submission_id}", status_code=303)


@router.get("/items/{submission_id}/previous")
def previous(submission_id: str, user: UserRow = Depends(reviewer), db: Session = Depends(db_session)) -> Response:
    sid = service.previous_item(db, user, before=submission_id)
    return RedirectResponse(f"/items/{sid}" if sid else f"/items/{submission_id}", status_code=303)


# --- audit ------------------------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    who: str | None = None,
    action: str | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    user: UserRow = Depends(reviewer),
    db: Session = Depends(db_session),
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
        {"suffixes": sorted(service.UPLOAD_SUFFIXES), "max_mb": request.app.state.settings.max_file_bytes // 2**20},
        user=user,
    )


@router.post("/upload", dependencies=[Depends(check_csrf)])
def upload(
    request: Request,
    files: list[UploadFile] = File(default_factory=list),
    user: UserRow = Depends(clerk),
    db: Session = Depends(db_session),
) -> Response:
    incoming = [service.IncomingFile(f.filename or "scan", f.file) for f in files if f.filename]
    row = service.save_upload(db, user, incoming, request.app.state.settings, request.app.state.s3_client)
    flash(request, "uploaded", "success", submission_id=row.submission_id, files=len(row.files))
    return RedirectResponse(f"/jobs?highlight={row.submission_id}", status_code=303)


@router.get("/jobs")
def jobs_page(
    request: Request,
    highlight: str | None = None,
    mine: bool = False,
    user: UserRow = Depends(clerk),
    db: Session = Depends(db_session),
) -> Response:
    uploads = service.upload_status(db, user_id=user.id if mine or not has_role(user, "admin") else None)
    return render(request, "jobs.html", {"uploads": uploads, "highlight": highlight, "mine": mine}, user=user)


# --- export -----------------------------------------------------------------------------------------------


EXPORT_YEARS = range(1900, 3000)  # the export's day arithmetic must not run off the calendar (9999-12-31)


def _date(value: str | None) -> date | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        raise ReviewError("bad_date", 422) from None
    if day is not None and day.year not in EXPORT_YEARS:
        raise ReviewError("bad_date", 422)
    return day


@router.get("/export")
def export_page(
    request: Request,
    date_from: str | None = None,
    date_to: str | None = None,
    commune: str | None = None,
    user: UserRow = Depends(admin),
    db: Session = Depends(db_session),
) -> Response:
    rows = service.export_rows(db, date_from=_date(date_from), date_to=_date(date_to), commune=commune or None)
    communes = sorted(c for (c,) in db.execute(select(SubmissionRow.commune_code).distinct()) if c)
    query = {k: v for k, v in {"date_from": date_from, "date_to": date_to, "commune": commune}.items() if v}
    return render(
        request,
        "export.html",
        {
            "rows": rows[:50],
            "count": len(rows),
            "columns": service.EXPORT_COLUMNS,
            "date_from": date_from or "",
            "date_to": date_to or "",
            "commune": commune or "",
            "communes": communes,
            "unit_names": i18n.UNIT_NAMES,
            "query": urlencode(query),
        },
        user=user,
    )


def export_response(
    db: Session, user: UserRow, fmt: str, date_from: str | None, date_to: str | None, commune: str | None
) -> Response:
    rows = service.export_rows(db, date_from=_date(date_from), date_to=_date(date_to), commune=commune or None)
    append_audit(
        db,
        user=user,
        action="export",
        detail={"format": fmt, "date_from": date_from, "date_to": date_to, "commune": commune, "rows": len(rows)},
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    if fmt == "json":
        body = json.dumps(rows, ensure_ascii=False, indent=1, default=str)
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="vbdlis-changes-{stamp}.json"'},
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(service.EXPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        buf.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="vbdlis-changes-{stamp}.csv"'},
    )


@router.post("/export/download", dependencies=[Depends(check_csrf)])
def export_download(
    format: str = Form("csv"),
    date_from: str | None = Form(None),
    date_to: str | None = Form(None),
    commune: str | None = Form(None),
    user: UserRow = Depends(admin),
    db: Session = Depends(db_session),
) -> Response:
    return export_response(db, user, "json" if format == "json" else "csv", date_from, date_to, commune)


# --- admin ------------------------------------------------------------------------------------------------


def _other_active_admins(db: Session, user_id: int) -> int:
    return len(
        db.scalars(
            select(UserRow.id).where(UserRow.role == "admin", UserRow.active.is_(True), UserRow.id != user_id)
        ).all()
    )


@router.get("/admin/users")
def users_page(request: Request, user: UserRow = Depends(admin), db: Session = Depends(db_session)) -> Response:
    users = db.scalars(select(UserRow).order_by(UserRow.name)).all()
    return render(request, "users.html", {"users": users, "roles": ROLES}, user=user)


@router.post("/admin/users", dependencies=[Depends(check_csrf)])
def add_user(
    request: Request,
    name: str = Form(...),
    role: str = Form(...),
    password: str = Form(...),
    password2: str = Form(...),
    user: UserRow = Depends(admin),
    db: Session = Depends(db_session),
) -> Response:
    if password != password2:
        raise ReviewError("passwords_differ", 422)
    try:
        new = create_user(db, name, role, password)
    except ValueError as exc:
        key = str(exc) if str(exc) in i18n.MESSAGES["en"] else "bad_user"
        raise ReviewError(key, 422) from None
    append_audit(db, user=user, action="user_add", detail={"name": new.name, "role": new.role})
    flash(request, "user_added", "success", name=new.name)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}", dependencies=[Depends(check_csrf)])
def change_user(
    request: Request,
    user_id: RowId,
    role: str | None = Form(None),
    active: str | None = Form(None),
    new_password: str | None = Form(None),
    user: UserRow = Depends(admin),
    db: Session = Depends(db_session),
) -> Response:
    changes = update_user(db, user, user_id, role=role, active=active, new_password=new_password)
    flash(request, "user_changed", "success", name=changes["name"])
    return RedirectResponse("/admin/users", status_code=303)


def update_user(
    db: Session,
    actor: UserRow,
    user_id: int,
    *,
    role: str | None = None,
    active: str | bool | None = None,
    new_password: str | None = None,
) -> dict[str, Any]:
    target = db.get(UserRow, user_id)
    if target is None:
        raise ReviewError("not_found", 404)
    detail: dict[str, Any] = {"name": target.name}
    if isinstance(active, str):
        active = active in ("1", "true", "on", "yes")
    losing_admin = (
        target.role == "admin" and target.active and ((role is not None and role != "admin") or active is False)
    )
    if losing_admin and _other_active_admins(db, target.id) == 0:
        raise ReviewError("last_admin", 409)
    if role is not None and role != target.role:
        if role not in ROLES:
            raise ReviewError("bad_role", 422)
        detail["role"] = {"old": target.role, "new": role}
        target.role = role
        target.session_epoch += 1
    if active is not None and active != target.active:
        detail["active"] = {"old": target.active, "new": active}
        target.active = active
        target.session_epoch += 1
    if new_password:
        if problem := check_password_policy(new_password, target.name):
            raise ReviewError(problem, 422)
        target.password_hash = hash_password(new_password)
        target.session_epoch += 1
        detail["password"] = "reset"
    append_audit(db, user=actor, action="user_change", detail=detail)
    return detail


@router.get("/admin/settings")
def settings_page(request: Request, user: UserRow = Depends(admin), db: Session = Depends(db_session)) -> Response:
    return render(request, "settings.html", {"thr": thresholds(request, db), "keys": SETTING_KEYS}, user=user)


SETTING_RANGES: dict[str, tuple[float, float]] = {
    "auto_accept_threshold": (0.0, 1.0),
    "review_threshold": (0.0, 1.0),
    "audit_sample_rate": (0.0, 1.0),
    "lease_minutes": (1.0, 480.0),
    "undo_seconds": (5.0, 3600.0),
}


def apply_settings(db: Session, request: Request, actor: UserRow, values: dict[str, Any]) -> ReviewThresholds:
    current = thresholds(request, db)
    merged = dict(current.__dict__)
    for key, raw in values.items():
        if key not in SETTING_RANGES or raw in (None, ""):
            continue
        value = _float(str(raw))
        lo, hi = SETTING_RANGES[key]
        if value is None or not lo <= value <= hi:
            raise ReviewError("bad_setting", 422, name=key)
        merged[key] = value
    if merged["review_threshold"] >= merged["auto_accept_threshold"]:
        raise ReviewError("thresholds_order", 422)
    changed = {
        k: {"old": getattr(current, k), "new": merged[k]} for k in SETTING_KEYS if merged[k] != getattr(current, k)
    }
    for key, change in changed.items():
        save_setting(db, key, change["new"], actor.name)
    if changed:
        append_audit(db, user=actor, action="settings", detail=changed)
    return ReviewThresholds(**merged)


@router.post("/admin/settings", dependencies=[Depends(check_csrf)])
def save_settings(
    request: Request,
    auto_accept_threshold: str | None = Form(None),
    review_threshold: str | None = Form(None),
    audit_sample_rate: str | None = Form(None),
    lease_minutes: str | None = Form(None),
    undo_seconds: str | None = Form(None),
    user: UserRow = Depends(admin),
    db: Session = Depends(db_session),
) -> Response:
    values = {
        "auto_accept_threshold": auto_accept_threshold,
        "review_threshold": review_threshold,
        "audit_sample_rate": audit_sample_rate,
        "lease_minutes": lease_minutes,
        "undo_seconds": undo_seconds,
    }
    apply_settings(db, request, user, values)
    flash(request, "settings_saved", "success")
    return RedirectResponse("/admin/settings", status_code=303)
