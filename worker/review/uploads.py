"""Browser uploads, independent of HTTP: a clerk's scans go where every other intake puts them (the bucket
under INTAKE_KEY_PREFIX, so the bucket notification sees them, or the inbox folder), with the office's case
number and the applicant's name; and the status page's view of each upload, file by file: read, failed (with
the reason in words, and what to do), or the same file as an earlier case."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.settings import Settings
from worker.review.errors import ReviewError
from worker.store.results import JobRow, SourceObjectRow, SubmissionRow, utcnow
from worker.store.review import (
    CLOSING_ACTIONS,
    DecisionRow,
    ReviewQueueRow,
    UploadRow,
    UserRow,
    append_audit,
    aware,
)
from worker.store.worklist import ExportSentRow, ReviewExceptionRow
from worker.vntext import clean

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".pdf", ".webp", ".bmp"})
MAX_UPLOAD_FILES = 50
_UNSAFE = re.compile(r"[^\w.\- ]+")
_CASE_NUMBER = re.compile(r"[\w./\- ]{1,60}")


def safe_filename(name: str) -> str:
    """A plain file name: no directories, no control or shell characters, NFC, at most 120 characters."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    base = _UNSAFE.sub("_", base).lstrip(".")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[: 120 - len(suffix) - 1] or "scan"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def new_submission_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"up-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class IncomingFile:
    filename: str
    stream: BinaryIO


def _check_uploads(files: Sequence[IncomingFile], settings: Settings) -> list[tuple[str, BinaryIO, int]]:
    if not files:
        raise ReviewError("no_files", 400)
    if len(files) > MAX_UPLOAD_FILES:
        raise ReviewError("too_many_files", 400, limit=MAX_UPLOAD_FILES)
    checked: list[tuple[str, BinaryIO, int]] = []
    used: set[str] = set()
    for f in files:
        name = safe_filename(f.filename or "scan")
        if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
            raise ReviewError("unsupported_file", 400, name=name)
        f.stream.seek(0, os.SEEK_END)
        size = f.stream.tell()
        f.stream.seek(0)
        if size == 0:
            raise ReviewError("empty_upload", 400, name=name)
        if size > settings.max_file_bytes:
            raise ReviewError("file_too_big", 400, name=name)
        stem, suffix, n = Path(name).stem, Path(name).suffix, 1
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}{suffix}"
        used.add(name.lower())
        checked.append((name, f.stream, size))
    return checked


def _case_fields(case_number: str | None, applicant: str | None) -> tuple[str | None, str | None]:
    case = clean(case_number).upper() or None
    if case is not None and not _CASE_NUMBER.fullmatch(case):
        raise ReviewError("bad_case_number", 422)
    person = clean(applicant) or None
    if person is not None and len(person) > 200:
        raise ReviewError("bad_value", 422)
    return case, person


def upload_key(settings: Settings, submission_id: str, name: str) -> str:
    """Where an uploaded file goes in the bucket: under the prefix the notification and the worker use."""
    return f"{settings.key_prefix}{submission_id}/{name}"


def save_upload(
    session: Session,
    user: UserRow,
    files: Sequence[IncomingFile],
    settings: Settings,
    s3_client: Callable[[], Any],
    *,
    case_number: str | None = None,
    applicant: str | None = None,
) -> UploadRow:
    """Put the files where every other intake puts them: the bucket under `<key prefix><submission_id>/`, or
    the inbox folder `<inbox>/<submission_id>/`. The inbox folder appears complete in one rename, so a worker
    scanning the inbox never sees half a submission."""
    case, person = _case_fields(case_number, applicant)
    checked = _check_uploads(files, settings)
    sid = new_submission_id()
    infos = [{"name": name, "size": size} for name, _stream, size in checked]
    if settings.bucket:
        client = s3_client()
        for name, stream, _size in checked:
            client.upload_fileobj(stream, settings.bucket, upload_key(settings, sid, name))
        destination = f"s3://{settings.bucket}/{upload_key(settings, sid, '')}"
    else:
        inbox = Path(settings.resolved_inbox_dir)
        staging = inbox.parent / ".upload-staging" / sid
        staging.mkdir(parents=True, exist_ok=False)
        try:
            for name, stream, _size in checked:
                with open(staging / name, "wb") as out:
                    shutil.copyfileobj(stream, out, 1024 * 1024)
            inbox.mkdir(parents=True, exist_ok=True)
            os.replace(staging, inbox / sid)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        destination = str(inbox / sid)
    row = UploadRow(
        submission_id=sid,
        user_id=user.id,
        destination=destination,
        files=infos,
        case_number=case,
        applicant=person,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        user=user,
        action="upload",
        submission_id=sid,
        detail={"files": len(infos), "to": destination, **({"case_number": case} if case else {})},
    )
    log.info("upload %s: %d file(s) by %s", sid, len(infos), user.name)
    return row


# --- the status page ---------------------------------------------------------------------------------------


def _file_states(session: Session, ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """submission → file name → {state, code, message, duplicate_of (case number or submission)}."""
    objects = list(session.scalars(select(SourceObjectRow).where(SourceObjectRow.submission_id.in_(ids))))
    originals = {o.duplicate_of for o in objects if o.duplicate_of is not None}
    original_sub: dict[int, str] = {}
    if originals:
        original_sub = dict(
            session.execute(
                select(SourceObjectRow.id, SourceObjectRow.submission_id).where(SourceObjectRow.id.in_(originals))
            ).all()
        )
    cases = dict(
        session.execute(
            select(UploadRow.submission_id, UploadRow.case_number).where(
                UploadRow.submission_id.in_(set(original_sub.values()))
            )
        ).all()
    )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for o in objects:
        name = PurePosixPath(o.key).name
        entry: dict[str, Any] = {"state": o.status, "code": o.error_code, "message": o.error_message}
        if o.duplicate_of is not None and (first := original_sub.get(o.duplicate_of)):
            entry["duplicate_of"] = cases.get(first) or first
            entry["duplicate_submission"] = first
        out.setdefault(o.submission_id, {})[name] = entry
    for sid, key, status, code, message in session.execute(
        select(JobRow.submission_id, JobRow.key, JobRow.status, JobRow.error_code, JobRow.error_message).where(
            JobRow.submission_id.in_(ids), JobRow.status.in_(("running", "retrying", "dead"))
        )
    ):
        files = out.setdefault(str(sid), {})
        name = PurePosixPath(key).name
        if name not in files or files[name]["state"] == "received":
            state = {"running": "processing", "retrying": "processing", "dead": "failed"}[status]
            files[name] = {"state": state, "code": code if status == "dead" else None, "message": message}
    return out


def clerk_state(
    sub: SubmissionRow | None,
    files: Sequence[dict[str, Any]],
    *,
    standing: str | None,
    exception_open: bool,
    queue_reason: str | None,
    sent: bool,
) -> str:
    """Where a submission is, in the words a clerk needs: still to be read, being read, unreadable, waiting for
    a reviewer, needing attention (no match, a conflict ...), new scans asked for, a new record to create,
    matched, or sent to VBDLIS."""
    unread = [f for f in files if f["state"] in ("waiting", "received", "processing")]
    if sub is None:
        return "processing" if len(unread) < len(files) else "waiting"
    if sub.status == "received" or unread:
        return "processing"  # an answer now could change with the next file
    if sent:
        return "sent"
    if standing == "rescan":
        return "rescan"
    if standing == "new_record":
        return "new_record"
    if standing == "accept":
        return "matched"
    if sub.status == "failed":
        return "failed"  # nothing in it could be read: the files' reasons say what to send again
    if exception_open or standing == "none" or sub.best_band in (None, "unlikely"):
        return "needs_attention"
    if sub.best_band == "auto_accept" and queue_reason not in ("audit_sample", "reopened"):
        return "matched"
    return "in_review"


def upload_status(session: Session, *, user_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Uploads, newest first, with each file's state and error reason and the submission's clerk state."""
    stmt = select(UploadRow, UserRow.name, SubmissionRow).join(UserRow, UserRow.id == UploadRow.user_id)
    stmt = stmt.outerjoin(SubmissionRow, SubmissionRow.id == UploadRow.submission_id)
    if user_id is not None:
        stmt = stmt.where(UploadRow.user_id == user_id)
    rows = session.execute(stmt.order_by(UploadRow.created_at.desc()).limit(limit)).all()
    ids = [r[0].submission_id for r in rows]
    files = _file_states(session, ids) if ids else {}
    standing: dict[str, DecisionRow] = {}
    for d in session.scalars(
        select(DecisionRow)
        .where(
            DecisionRow.submission_id.in_(ids), DecisionRow.action.in_(CLOSING_ACTIONS), DecisionRow.undone_at.is_(None)
        )
        .order_by(DecisionRow.id)
    ):
        standing[d.submission_id] = d
    open_exceptions = set(
        session.scalars(
            select(ReviewExceptionRow.submission_id).where(
                ReviewExceptionRow.submission_id.in_(ids), ReviewExceptionRow.open.is_(True)
            )
        )
    )
    queue = dict(
        session.execute(
            select(ReviewQueueRow.submission_id, ReviewQueueRow.reason).where(ReviewQueueRow.submission_id.in_(ids))
        ).all()
    )
    sent = set(session.scalars(select(ExportSentRow.submission_id).where(ExportSentRow.submission_id.in_(ids))))
    out = []
    for upload, uploader, sub in rows:
        sid = upload.submission_id
        per_file = files.get(sid, {})
        decision = standing.get(sid)
        file_rows = [{**f, **per_file.get(f["name"], {"state": "waiting"})} for f in upload.files]
        out.append(
            {
                "submission_id": sid,
                "case_number": upload.case_number,
                "applicant": upload.applicant,
                "uploaded_by": uploader,
                "uploaded_at": aware(upload.created_at),
                "files": file_rows,
                "destination": upload.destination,
                "state": clerk_state(
                    sub,
                    file_rows,
                    standing=decision.action if decision else None,
                    exception_open=sid in open_exceptions,
                    queue_reason=queue.get(sid),
                    sent=sid in sent,
                ),
                "note": decision.note if decision is not None and decision.action == "rescan" else None,
                "band": sub.best_band if sub else None,
            }
        )
    return out
