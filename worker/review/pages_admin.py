"""Admin pages: the export to VBDLIS (preview, download and mark as sent, earlier batches), users and
settings. Forms post back here (CSRF token in a hidden field) and redirect."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.review import export, i18n, worklist
from worker.review.auth import DB, check_csrf, check_password_policy, create_user, hash_password, require
from worker.review.errors import ReviewError, RowId
from worker.review.pages import parse_number, thresholds
from worker.review.rendering import current_lang, flash, render
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import ROLES, SETTING_KEYS, ReviewThresholds, UserRow, append_audit, save_setting

router = APIRouter(include_in_schema=False)

admin = require("admin")


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


def export_filter(params: Any) -> export.ExportFilter:
    try:
        since = export.parse_since(params.get("since"))
    except ValueError:
        raise ReviewError("bad_date", 422) from None
    return export.ExportFilter(
        since=since,
        date_from=_date(params.get("date_from")),
        date_to=_date(params.get("date_to")),
        commune=(params.get("commune") or "").strip() or None,
        include_sent=str(params.get("include_sent") or "") in ("1", "true", "on"),
        batch_id=int(params["batch"]) if str(params.get("batch") or "").isdigit() else None,
    )


def export_response(
    db: Session, user: UserRow, fmt: str, f: export.ExportFilter, *, lang: str, mark_sent: bool = False
) -> Response:
    """The rows as a download; with `mark_sent` they are recorded as sent to VBDLIS in a new batch."""
    fmt = fmt if fmt in export.FORMATS else "csv"
    rows = export.export_rows(db, f, lang=lang)
    batch = export.mark_sent(db, rows, user_name=user.name, fmt=fmt, f=f) if mark_sent else None
    append_audit(db, user=user, action="export", detail=export.audit_detail(fmt, f, rows, batch))
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    name = f"vbdlis-changes-{stamp}" + (f"-batch{batch.id}" if batch else "")
    return Response(
        export.encode(rows, fmt),
        media_type=export.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


@router.get("/export")
def export_page(request: Request, user: UserRow = Depends(admin), db: Session = DB) -> Response:
    worklist.sync(db)
    f = export_filter(request.query_params)
    rows = export.export_rows(db, f, lang=current_lang(request))
    communes = sorted(c for (c,) in db.execute(select(SubmissionRow.commune_code).distinct()) if c)
    return render(
        request,
        "export.html",
        {
            "rows": rows[:50],
            "count": len(rows),
            "submissions": len({r["submission_id"] for r in rows}),
            "columns": export.EXPORT_COLUMNS,
            "f": f,
            "communes": communes,
            "unit_names": i18n.UNIT_NAMES,
            "batches": export.recent_batches(db),
        },
        user=user,
    )


@router.post("/export/download", dependencies=[Depends(check_csrf)])
async def export_download(request: Request, user: UserRow = Depends(admin), db: Session = DB) -> Response:
    """A preview download (nothing marked sent); a POST because it is audited, never a link a page could prefetch."""
    form = await request.form()
    return export_response(db, user, str(form.get("format") or "csv"), export_filter(form), lang=current_lang(request))


@router.post("/export/send", dependencies=[Depends(check_csrf)])
async def export_send(request: Request, user: UserRow = Depends(admin), db: Session = DB) -> Response:
    """Download the rows not sent yet and record them as sent (the next export starts after them)."""
    form = await request.form()
    f = export_filter(form)
    f.include_sent, f.batch_id = False, None
    worklist.sync(db)
    return export_response(db, user, str(form.get("format") or "csv"), f, lang=current_lang(request), mark_sent=True)


# --- admin ------------------------------------------------------------------------------------------------


def _other_active_admins(db: Session, user_id: int) -> int:
    return len(
        db.scalars(
            select(UserRow.id).where(UserRow.role == "admin", UserRow.active.is_(True), UserRow.id != user_id)
        ).all()
    )


@router.get("/admin/users")
def users_page(request: Request, user: UserRow = Depends(admin), db: Session = DB) -> Response:
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
    db: Session = DB,
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
    db: Session = DB,
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
def settings_page(request: Request, user: UserRow = Depends(admin), db: Session = DB) -> Response:
    return render(request, "settings.html", {"thr": thresholds(request, db), "keys": SETTING_KEYS}, user=user)


SETTING_RANGES: dict[str, tuple[float, float]] = {
    "auto_accept_threshold": (0.0, 1.0),
    "review_threshold": (0.0, 1.0),
    "audit_sample_rate": (0.0, 1.0),
    "second_review_rate": (0.0, 1.0),
    "lease_minutes": (1.0, 480.0),
    "undo_seconds": (5.0, 3600.0),
}


def apply_settings(db: Session, request: Request, actor: UserRow, values: dict[str, Any]) -> ReviewThresholds:
    current = thresholds(request, db)
    merged = dict(current.__dict__)
    for key, raw in values.items():
        if key not in SETTING_RANGES or raw in (None, ""):
            continue
        value = parse_number(str(raw))
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
    second_review_rate: str | None = Form(None),
    user: UserRow = Depends(admin),
    db: Session = DB,
) -> Response:
    values = {
        "auto_accept_threshold": auto_accept_threshold,
        "review_threshold": review_threshold,
        "audit_sample_rate": audit_sample_rate,
        "lease_minutes": lease_minutes,
        "undo_seconds": undo_seconds,
        "second_review_rate": second_review_rate,
    }
    apply_settings(db, request, user, values)
    flash(request, "settings_saved", "success")
    return RedirectResponse("/admin/settings", status_code=303)
