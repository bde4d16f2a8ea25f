"""The JSON API (/api/...), documented by OpenAPI at /api/openapi.json and /api/docs (both behind login).

Authentication is the same session cookie as the pages; every state-changing call needs the session's CSRF
token in the X-CSRF-Token header (GET /api/session hands it out)."""

# FastAPI's dependency injection is declared with Depends()/Form()/File() defaults; that is the idiom, not a bug
# ruff: noqa: B008

from __future__ import annotations

from datetime import datetime
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.review import decisions, service, uploads, worklist
from worker.review.auth import (
    DB,
    attempt_login,
    check_csrf,
    create_user,
    csrf_token,
    current_user,
    has_role,
    require,
)
from worker.review.errors import MAX_OFFSET, ReviewError, RowId, get_submission
from worker.review.item import history, item_view
from worker.review.new_record import NEW_RECORD_FIELDS
from worker.review.pages import lease_ttl, parse_filter, refresh_worklists, store_upload, thresholds, undo_window
from worker.review.pages_admin import apply_settings, update_user
from worker.store.results import SubmissionRow, utcnow
from worker.store.review import UserRow, append_audit, decided_pairs, release_leases

router = APIRouter(prefix="/api", tags=["review"])

clerk = require("clerk")
reviewer = require("reviewer")
admin = require("admin")
csrf = [Depends(check_csrf)]


class Me(BaseModel):
    id: int
    name: str
    role: str
    lang: str


class SessionInfo(BaseModel):
    csrf_token: str
    user: Me | None = None


class LoginBody(BaseModel):
    name: str
    password: str


class Lease(BaseModel):
    submission_id: str | None
    expires_at: datetime | None = None


class DecisionBody(BaseModel):
    action: Literal["accept", "reject", "none", "new_record", "rescan"] = Field(
        description="accept a candidate; reject one (the item stays open until every candidate is rejected); "
        "none of them; new_record (not in the registry: `new_record` holds the fields to create); rescan "
        "(`note` says why new scans are needed)"
    )
    rank: int | None = Field(None, ge=1, description="candidate rank (accept/reject); default 1")
    proposal_id: int | None = Field(None, description="refuse with 409 stale_item if the candidate changed")
    note: str | None = None
    new_record: dict[str, Any] | None = Field(None, description=f"fields of the new record: {NEW_RECORD_FIELDS}")


class CorrectionBody(BaseModel):
    field: str
    value: str
    owner_index: int | None = None
    rank: int | None = Field(None, ge=1, description="the candidate the correction is made on; default 1")


class CandidateBody(BaseModel):
    parcel_id: str = Field(min_length=1, max_length=64)
    query: str = ""


class ReopenBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class NoteBody(BaseModel):
    note: str


class DecisionOut(BaseModel):
    id: int
    submission_id: str
    action: str
    rank: int | None = None
    parcel_id: str | None = None
    owner_id: str | None = None
    field: str | None = None
    old_value: Any = None
    new_value: Any = None
    note: str | None = None
    model_version: str | None = None
    decided_at: datetime
    undone_at: datetime | None = None


class NextBody(BaseModel):
    band: Literal["review", "auto_accept"] | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    commune: str | None = None
    doc_type: str | None = None
    age: Literal["lt1d", "1to7d", "gt7d"] | None = None
    skip: list[str] = Field(default_factory=list)


class NewUser(BaseModel):
    name: str
    role: Literal["clerk", "reviewer", "admin"]
    password: str


class UserChange(BaseModel):
    role: Literal["clerk", "reviewer", "admin"] | None = None
    active: bool | None = None
    new_password: str | None = None


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None = None


class ReviewSettings(BaseModel):
    auto_accept_threshold: float | None = None
    review_threshold: float | None = None
    audit_sample_rate: float | None = None
    lease_minutes: float | None = None
    undo_seconds: float | None = None
    second_review_rate: float | None = None


def _me(user: UserRow) -> Me:
    return Me(id=user.id, name=user.name, role=user.role, lang=user.lang)


def _decision_out(row: Any) -> DecisionOut:
    return DecisionOut(
        id=row.id,
        submission_id=row.submission_id,
        action=row.action,
        rank=row.rank,
        parcel_id=row.parcel_id,
        owner_id=row.owner_id,
        field=row.field,
        old_value=row.old_value,
        new_value=row.new_value,
        note=row.note,
        model_version=row.model_version,
        decided_at=row.decided_at,
        undone_at=row.undone_at,
    )


# --- session ----------------------------------------------------------------------------------------------


@router.get("/session", response_model=SessionInfo, summary="CSRF token and the logged-in user (if any)")
def get_session(request: Request, user: UserRow | None = Depends(current_user)) -> SessionInfo:
    return SessionInfo(csrf_token=csrf_token(request), user=_me(user) if user else None)


@router.post(
    "/session",
    response_model=SessionInfo,
    dependencies=csrf,
    summary="Log in",
    responses={429: {"description": "throttled or busy: retry after the Retry-After header's seconds"}},
)
async def login(request: Request, body: LoginBody, db: Session = DB) -> Any:
    result = await attempt_login(request, db, body.name, body.password)
    if result.status in ("throttled", "busy"):
        wait = str(int(result.wait_s) + 1)
        error = "login_throttled" if result.status == "throttled" else "login_busy"
        return JSONResponse(
            {"error": error, "retry_after_s": int(wait)}, status_code=429, headers={"Retry-After": wait}
        )
    if result.user is None:
        return JSONResponse({"error": "login_failed"}, status_code=401)
    user = result.user
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch, "lang": user.lang})
    return SessionInfo(csrf_token=csrf_token(request), user=_me(user))


@router.delete("/session", status_code=204, dependencies=csrf, summary="Log out")
def logout(request: Request, user: UserRow = Depends(clerk), db: Session = DB) -> Response:
    append_audit(db, user=user, action="logout")
    # the session lives in the signed cookie: bumping the epoch is what makes a copied cookie worthless
    user.session_epoch += 1
    request.session.clear()
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def me(user: UserRow = Depends(clerk)) -> Me:
    return _me(user)


# --- queue and items --------------------------------------------------------------------------------------


@router.get("/queue", summary="Items waiting for review (filterable) and counts by status")
def queue(
    request: Request,
    band: Literal["review", "auto_accept"] | None = None,
    min_confidence: float | None = Query(None, ge=0, le=1),
    max_confidence: float | None = Query(None, ge=0, le=1),
    commune: str | None = None,
    doc_type: str | None = None,
    age: Literal["lt1d", "1to7d", "gt7d"] | None = None,
    status: Literal["waiting", "in_review", "decided", "all"] = "waiting",
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> dict[str, Any]:
    refresh_worklists(request, db)
    f = service.QueueFilter(band, min_confidence, max_confidence, commune, doc_type, age, status, limit, offset)
    items, total = service.list_queue(db, f)
    return {
        "items": [it.__dict__ for it in items],
        "total": total,
        "counts": service.queue_counts(db),
        "bands": worklist.band_counts(db),
        "exceptions": worklist.exception_counts(db),
    }


@router.post("/queue/next", response_model=Lease, dependencies=csrf, summary="Take the next item (exclusive lease)")
def take_next(request: Request, body: NextBody, user: UserRow = Depends(reviewer), db: Session = DB) -> Lease:
    thr = thresholds(request, db)
    service.sync_queue(db, thr)  # the review queue alone: taking an item must stay cheap
    f = parse_filter(body.model_dump(exclude={"skip"}))
    sid = service.take_next(db, user, f, lease_ttl(thr), exclude=body.skip)
    if sid is None:
        return Lease(submission_id=None)
    return Lease(submission_id=sid, expires_at=utcnow() + lease_ttl(thr))


@router.get("/items/{submission_id}", summary="One item: scans, fields, candidates with evidence, history")
def item(submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> dict[str, Any]:
    return item_view(db, submission_id, user, exception=worklist.sync_one(db, get_submission(db, submission_id)))


@router.post("/items/{submission_id}/lease", response_model=Lease, dependencies=csrf, summary="Take this item")
def take(request: Request, submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> Lease:
    expires = service.take_item(db, user, submission_id, lease_ttl(thresholds(request, db)))
    return Lease(submission_id=submission_id, expires_at=expires)


@router.delete("/items/{submission_id}/lease", status_code=204, dependencies=csrf, summary="Give the item back")
def release(submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> Response:
    service.release_item(db, user, submission_id)
    return Response(status_code=204)


@router.post(
    "/items/{submission_id}/decisions", response_model=DecisionOut, dependencies=csrf, summary="accept / reject / none"
)
def decide(
    request: Request,
    submission_id: str,
    body: DecisionBody,
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> DecisionOut:
    row = decisions.decide(
        db,
        user,
        submission_id,
        body.action,
        lease_ttl(thresholds(request, db)),
        rank=body.rank,
        proposal_id=body.proposal_id,
        note=body.note,
        new_record=body.new_record,
    )
    return _decision_out(row)


@router.post(
    "/items/{submission_id}/corrections", response_model=DecisionOut, dependencies=csrf, summary="Correct a value"
)
def correct(
    request: Request,
    submission_id: str,
    body: CorrectionBody,
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> DecisionOut:
    row = decisions.correct(
        db,
        user,
        submission_id,
        body.field,
        body.value,
        lease_ttl(thresholds(request, db)),
        owner_index=body.owner_index,
        rank=body.rank,
    )
    return _decision_out(row)


@router.post(
    "/items/{submission_id}/candidates",
    dependencies=csrf,
    summary="Add a parcel found in the registry as a candidate (scored by the matcher); returns its rank",
)
def add_candidate(
    request: Request,
    submission_id: str,
    body: CandidateBody,
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> dict[str, int]:
    rank = decisions.add_candidate(
        db,
        user,
        submission_id,
        body.parcel_id,
        lease_ttl(thresholds(request, db)),
        request.app.state.assess,
        query=body.query,
    )
    return {"rank": rank}


@router.post(
    "/items/{submission_id}/reopen",
    response_model=DecisionOut,
    dependencies=csrf,
    summary="Admin: reopen a decided item (its decision is undone, audited with the reason)",
)
def reopen(submission_id: str, body: ReopenBody, user: UserRow = Depends(admin), db: Session = DB) -> DecisionOut:
    return _decision_out(decisions.reopen(db, user, submission_id, body.reason))


@router.post("/items/{submission_id}/notes", response_model=DecisionOut, dependencies=csrf, summary="Add a note")
def add_note(submission_id: str, body: NoteBody, user: UserRow = Depends(reviewer), db: Session = DB) -> DecisionOut:
    return _decision_out(decisions.add_note(db, user, submission_id, body.note))


@router.get("/items/{submission_id}/history", summary="The item's audit entries, newest first")
def item_history(submission_id: str, user: UserRow = Depends(reviewer), db: Session = DB) -> list[dict[str, Any]]:
    if db.get(SubmissionRow, submission_id) is None:
        raise ReviewError("not_found", 404)
    return history(db, submission_id)


@router.post("/undo", response_model=DecisionOut, dependencies=csrf, summary="Undo my last decision (short window)")
def undo(request: Request, user: UserRow = Depends(reviewer), db: Session = DB) -> DecisionOut:
    thr = thresholds(request, db)
    row = decisions.undo_last(db, user, undo_window(thr), lease_ttl(thr))
    release_leases(db, user.id, except_submission=row.submission_id)
    return _decision_out(row)


@router.get("/audit", summary="The audit log, newest first")
def audit(
    who: str | None = None,
    action: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    user: UserRow = Depends(reviewer),
    db: Session = DB,
) -> list[dict[str, Any]]:
    return service.list_audit(db, user=who, action=action, limit=limit, offset=offset)


# --- uploads ----------------------------------------------------------------------------------------------


@router.post("/uploads", dependencies=csrf, status_code=201, summary="Upload scans as a new submission")
def upload(
    request: Request,
    files: list[UploadFile] = File(...),
    case_number: str = Form("", description="the office's case number (HS2025-...)"),
    applicant: str = Form("", description="who applied"),
    user: UserRow = Depends(clerk),
    db: Session = DB,
) -> dict[str, Any]:
    row = store_upload(request, db, user, files, case_number, applicant)
    return {
        "submission_id": row.submission_id,
        "destination": row.destination,
        "files": row.files,
        "case_number": row.case_number,
    }


@router.get("/uploads", summary="Uploaded submissions, file by file: read, failed (with the reason) or duplicates")
def list_uploads(
    request: Request, mine: bool = False, user: UserRow = Depends(clerk), db: Session = DB
) -> list[dict[str, Any]]:
    refresh_worklists(request, db)
    return uploads.upload_status(db, user_id=user.id if mine or not has_role(user, "admin") else None)


# --- admin ------------------------------------------------------------------------------------------------


@router.get("/calibration", summary="Reviewer labels for the matcher's calibration")
def calibration(request: Request, user: UserRow = Depends(admin)) -> list[dict[str, Any]]:
    return [pair.__dict__ for pair in decided_pairs(request.app.state.engine)]


@router.get("/users", response_model=list[UserOut])
def list_users(user: UserRow = Depends(admin), db: Session = DB) -> list[UserOut]:
    return [
        UserOut(
            id=u.id, name=u.name, role=u.role, active=u.active, created_at=u.created_at, last_login_at=u.last_login_at
        )
        for u in db.scalars(select(UserRow).order_by(UserRow.name))
    ]


@router.post("/users", response_model=UserOut, status_code=201, dependencies=csrf)
def add_user(body: NewUser, user: UserRow = Depends(admin), db: Session = DB) -> UserOut:
    try:
        new = create_user(db, body.name, body.role, body.password)
    except ValueError as exc:
        raise ReviewError(str(exc) if str(exc).startswith("password_") else "bad_user", 422) from None
    append_audit(db, user=user, action="user_add", detail={"name": new.name, "role": new.role})
    return UserOut(id=new.id, name=new.name, role=new.role, active=new.active, created_at=new.created_at)


@router.patch("/users/{user_id}", dependencies=csrf)
def change_user(user_id: RowId, body: UserChange, user: UserRow = Depends(admin), db: Session = DB) -> dict[str, Any]:
    return update_user(db, user, user_id, role=body.role, active=body.active, new_password=body.new_password)


@router.get("/settings", response_model=ReviewSettings)
def get_review_settings(request: Request, user: UserRow = Depends(admin), db: Session = DB) -> ReviewSettings:
    return ReviewSettings(**thresholds(request, db).__dict__)


@router.put("/settings", response_model=ReviewSettings, dependencies=csrf)
def put_review_settings(
    request: Request, body: ReviewSettings, user: UserRow = Depends(admin), db: Session = DB
) -> ReviewSettings:
    return ReviewSettings(**apply_settings(db, request, user, body.model_dump()).__dict__)


# --- documentation ----------------------------------------------------------------------------------------


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, user: UserRow = Depends(clerk)) -> JSONResponse:
    return JSONResponse(request.app.openapi())


# Swagger UI from the fastapi-offline package (no CDN); the page runs under the app's own CSP, so it loads its
# scripts from here and starts from /static/swagger-init.js (no inline script)
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>land-intake review API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script></body></html>
"""


@router.get("/docs", include_in_schema=False)
def docs(user: UserRow = Depends(clerk)) -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE)


@router.get("/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str, user: UserRow = Depends(clerk)) -> Response:
    if name not in DOCS_ASSETS:
        raise ReviewError("not_found", 404)
    data = (resources.files("fastapi_offline") / "static" / name).read_bytes()
    return Response(data, media_type=DOCS_ASSETS[name], headers={"Cache-Control": "private, max-age=86400"})
