"""The changes to send to VBDLIS: every accepted match (a reviewer's, or the matcher's auto-accept that no
person needs to see) and every new record a reviewer asked for, one row per parcel-owner change, in CSV
(UTF-8 with a byte-order mark, so Excel reads Vietnamese), JSON or XLSX.

Each row has a stable `change_id` (a hash of what it changes); sending a row records its id, so an export
lists what has not been sent yet and nothing is ever sent twice (`include_sent` lists the rest too). A
reviewer's row carries exactly the changes shown under the candidate they accepted (the decision's snapshot);
names are spelled as printed in the registry's letter case; commune codes come from the registry parcel."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from models.proposal import Proposal
from worker.review import i18n
from worker.review.item import candidate_changes, corrections, load_documents, printed_name, registry_records
from worker.review.labels import display_name, reason_label
from worker.store.results import ProposalRow, SubmissionRow, utcnow
from worker.store.review import DecisionRow, ReviewQueueRow, UploadRow, UserRow, aware
from worker.store.worklist import ExportBatchRow, ExportSentRow, ReviewExceptionRow

EXPORT_COLUMNS: tuple[str, ...] = (
    "change_id",
    "submission_id",
    "case_number",
    "commune_code",
    "parcel_id",
    "owner_id",
    "owner_name",
    "change",
    "field",
    "old_value",
    "new_value",
    "reason",
    "source",
    "decision_id",
    "decided_by",
    "decided_at",
    "model_version",
    "sent_at",
)
FORMATS = ("csv", "json", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
AUTO = "auto"  # decided_by of a match the matcher accepted on its own


@dataclass
class ExportFilter:
    since: datetime | None = None
    date_from: date | None = None
    date_to: date | None = None
    commune: str | None = None
    include_sent: bool = False
    batch_id: int | None = None  # the rows one earlier export sent (implies include_sent)

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in self.__dict__.items() if v}

    def window(self) -> tuple[datetime | None, datetime | None]:
        start = self.since
        if self.date_from:
            day = datetime.combine(self.date_from, datetime.min.time(), UTC)
            start = max(start, day) if start else day
        end = datetime.combine(self.date_to + timedelta(days=1), datetime.min.time(), UTC) if self.date_to else None
        return start, end


def parse_since(value: str | None) -> datetime | None:
    """An ISO date or date-time (`2026-12-01`, `2026-12-01T08:00`); without a zone it is UTC. ValueError
    for anything else."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit_detail(fmt: str, f: ExportFilter, rows: Sequence[dict[str, Any]], batch: ExportBatchRow | None) -> dict:
    """What the audit log records about an export: the format, the filters, how many rows, which batch."""
    return {
        "format": fmt,
        **f.as_dict(),
        "rows": len(rows),
        **({"batch": batch.id, "marked_sent": batch.row_count} if batch else {}),
    }


def change_id(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def _value(value: Any) -> Any:
    return "" if value is None else value


def _rows_for(base: dict[str, Any], updates: Sequence[dict[str, Any]], lang: str) -> Iterator[dict[str, Any]]:
    """A confirm row when the match changes nothing (VBDLIS records the link), else one row per update."""
    t = i18n.translator(lang)
    key = (base["submission_id"], base["parcel_id"], base["owner_id"])
    if not updates:
        yield {**base, "change_id": change_id(*key, "confirm"), "change": "confirm", "field": "", "old_value": "",
               "new_value": "", "reason": ""}  # fmt: skip
    for u in updates:
        yield {
            **base,
            "change_id": change_id(*key, "update", u["field"], u.get("owner_index"), u["scanned_value"]),
            "change": "update",
            "field": u["field"],
            "old_value": _value(u["record_value"]),
            "new_value": _value(u["scanned_value"]),
            "reason": reason_label(t, u.get("reason")),
        }


def _owner_name(registry_name: str | None, updates: Sequence[dict[str, Any]]) -> str:
    """The owner's name after the change, as printed (the registry's own when the match does not change it)."""
    new = next((u["scanned_value"] for u in updates if u["field"] == "owner_name"), None)
    return display_name(new or registry_name) or ""


def _decision_rows(session: Session, f: ExportFilter, lang: str) -> Iterator[dict[str, Any]]:
    start, end = f.window()
    stmt = (
        select(DecisionRow, SubmissionRow.commune_code, UserRow.name)
        .join(SubmissionRow, SubmissionRow.id == DecisionRow.submission_id)
        .join(UserRow, UserRow.id == DecisionRow.user_id)
        .where(DecisionRow.action.in_(("accept", "new_record")), DecisionRow.undone_at.is_(None))
    )
    if start:
        stmt = stmt.where(DecisionRow.decided_at >= start)
    if end:
        stmt = stmt.where(DecisionRow.decided_at < end)
    for row, sub_commune, decided_by in session.execute(stmt.order_by(DecisionRow.decided_at, DecisionRow.id)):
        base = {
            "submission_id": row.submission_id,
            "decision_id": row.id,
            "source": "reviewer",
            "decided_by": decided_by,
            "decided_at": (aware(row.decided_at) or utcnow()).isoformat(timespec="seconds"),
            "model_version": row.model_version or "",
        }
        if row.action == "new_record":
            fields = row.new_value or {}
            base.update(commune_code=fields.get("commune_code") or sub_commune or "", parcel_id="", owner_id="",
                        owner_name=display_name(fields.get("owner_name")) or "")  # fmt: skip
            for name in sorted(fields):
                yield {**base, "change_id": change_id(row.submission_id, "create", name, fields[name]),
                       "change": "create", "field": name, "old_value": "", "new_value": fields[name],
                       "reason": i18n.translate(lang, "reason_new_record")}  # fmt: skip
            continue
        chosen = (row.snapshot or {}).get("chosen")
        if chosen is None:  # decided before snapshots kept the changes: recompute them the same way
            chosen = _legacy_chosen(session, row)
            if chosen is None:
                continue
        base.update(
            commune_code=chosen.get("commune_code") or sub_commune or "",
            parcel_id=row.parcel_id or "",
            owner_id=row.owner_id or "",
            owner_name=_owner_name(chosen.get("owner_name"), chosen["updates"]),
        )
        yield from _rows_for(base, chosen["updates"], lang)


def _legacy_chosen(session: Session, row: DecisionRow) -> dict[str, Any] | None:
    cand = next((c for c in (row.snapshot or {}).get("candidates", []) if c.get("rank") == row.rank), None)
    if cand is None:
        return None
    proposal = Proposal.model_validate(cand["payload"])
    documents = [doc for _r, doc in load_documents(session, row.submission_id)]
    fixes = corrections(session, row.submission_id, row.parcel_id)
    return {"owner_name": proposal.owner_name, "updates": candidate_changes(proposal, fixes, documents)}


def _auto_rows(session: Session, f: ExportFilter, lang: str) -> Iterator[dict[str, Any]]:
    """Auto-accepted matches no person has to look at: not drawn for audit (or decided already, which the
    decision rows cover), not on the exceptions worklist."""
    start, end = f.window()
    waiting_for_person = exists().where(
        ReviewQueueRow.submission_id == SubmissionRow.id, ReviewQueueRow.reason.in_(("audit_sample", "reopened"))
    )
    open_exception = exists().where(
        ReviewExceptionRow.submission_id == SubmissionRow.id, ReviewExceptionRow.open.is_(True)
    )
    stmt = (
        select(SubmissionRow, ProposalRow)
        .join(ProposalRow, and_(ProposalRow.submission_id == SubmissionRow.id, ProposalRow.rank == 1))
        .where(
            SubmissionRow.best_band == "auto_accept",
            SubmissionRow.review_status != "decided",
            ~waiting_for_person,
            ~open_exception,
        )
    )
    if start:
        stmt = stmt.where(SubmissionRow.matched_at >= start)
    if end:
        stmt = stmt.where(SubmissionRow.matched_at < end)
    batch = session.execute(stmt.order_by(SubmissionRow.matched_at, SubmissionRow.id)).all()
    records = registry_records(session, sorted({p.parcel_id for _s, p in batch}))
    for sub, prow in batch:
        proposal = Proposal.model_validate(prow.payload)
        documents = [doc for _r, doc in load_documents(session, sub.id)]
        updates = candidate_changes(proposal, {}, documents)
        base = {
            "submission_id": sub.id,
            "decision_id": "",
            "source": AUTO,
            "decided_by": AUTO,
            "decided_at": (aware(sub.matched_at) or utcnow()).isoformat(timespec="seconds"),
            "model_version": prow.model_version or proposal.model_version or "",
            "commune_code": (records.get(prow.parcel_id) or {}).get("commune_code") or sub.commune_code or "",
            "parcel_id": prow.parcel_id,
            "owner_id": proposal.owner_id or "",
            "owner_name": _owner_name(printed_name(proposal.owner_name, documents), updates),
        }
        yield from _rows_for(base, updates, lang)


def export_rows(session: Session, f: ExportFilter | None = None, *, lang: str = i18n.DEFAULT) -> list[dict[str, Any]]:
    """Rows to send, oldest first: reviewers' decisions and auto-accepts, unsent ones only unless asked."""
    f = f or ExportFilter()
    rows = [*_decision_rows(session, f, lang), *_auto_rows(session, f, lang)]
    if f.commune:
        rows = [r for r in rows if r["commune_code"] == f.commune]
    sent = _sent(session, [r["change_id"] for r in rows])
    cases = _case_numbers(session, {r["submission_id"] for r in rows})
    out = []
    for r in rows:
        when = sent.get(r["change_id"])
        if f.batch_id is not None:
            if when is None or when[0] != f.batch_id:
                continue
        elif when is not None and not f.include_sent:
            continue
        r["sent_at"] = (aware(when[1]) or utcnow()).isoformat(timespec="seconds") if when else ""
        r["case_number"] = cases.get(r["submission_id"], "")
        out.append({col: r.get(col, "") for col in EXPORT_COLUMNS})
    out.sort(key=lambda r: (r["decided_at"], r["submission_id"], r["field"]))
    return out


def _sent(session: Session, ids: Sequence[str]) -> dict[str, tuple[int, datetime]]:
    found: dict[str, tuple[int, datetime]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for cid, batch, at in session.execute(
            select(ExportSentRow.change_id, ExportSentRow.batch_id, ExportSentRow.sent_at).where(
                ExportSentRow.change_id.in_(chunk)
            )
        ):
            found[cid] = (batch, at)
    return found


def _case_numbers(session: Session, submission_ids: Iterable[str]) -> dict[str, str]:
    ids = list(submission_ids)
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        for sid, case in session.execute(
            select(UploadRow.submission_id, UploadRow.case_number).where(
                UploadRow.submission_id.in_(ids[start : start + 500]), UploadRow.case_number.is_not(None)
            )
        ):
            found[sid] = case or ""
    return found


def mark_sent(
    session: Session, rows: Sequence[dict[str, Any]], *, user_name: str, fmt: str, f: ExportFilter
) -> ExportBatchRow:
    """Record that these rows went to VBDLIS (a row sent before keeps its first batch)."""
    batch = ExportBatchRow(created_at=utcnow(), user_name=user_name, format=fmt, row_count=0, filters=f.as_dict())
    session.add(batch)
    session.flush()
    already = _sent(session, [r["change_id"] for r in rows])
    fresh = {r["change_id"]: r["submission_id"] for r in rows if r["change_id"] not in already}
    session.add_all(
        ExportSentRow(change_id=cid, batch_id=batch.id, submission_id=sid, sent_at=batch.created_at)
        for cid, sid in fresh.items()
    )
    batch.row_count = len(fresh)
    session.flush()
    return batch


def recent_batches(session: Session, limit: int = 20) -> list[ExportBatchRow]:
    return list(session.scalars(select(ExportBatchRow).order_by(ExportBatchRow.id.desc()).limit(limit)))


# --- formats ----------------------------------------------------------------------------------------------


def to_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark (Excel otherwise reads Vietnamese as mojibake), CRLF line ends."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def to_json(rows: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps(list(rows), ensure_ascii=False, indent=1, default=str).encode("utf-8")


def write_xlsx(rows: Sequence[dict[str, Any]], target: str | Path | BinaryIO) -> None:
    """One sheet, a frozen and filterable header; every cell written as text, so ID numbers keep their leading
    zeros and serials are not read as numbers (XlsxWriter streams rows: constant memory for a file)."""
    import xlsxwriter  # here, not at the top: only XLSX exports need it

    options = {"constant_memory": True} if isinstance(target, str | Path) else {"in_memory": True}
    workbook = xlsxwriter.Workbook(str(target) if isinstance(target, Path) else target, options)
    sheet = workbook.add_worksheet("VBDLIS")
    bold = workbook.add_format({"bold": True, "bg_color": "#F2F4F7"})
    text = workbook.add_format({"num_format": "@"})
    for col, name in enumerate(EXPORT_COLUMNS):
        sheet.write_string(0, col, name, bold)
        sheet.set_column(col, col, 14 if name not in ("change_id", "reason", "owner_name") else 28, text)
    for r, row in enumerate(rows, start=1):
        for col, name in enumerate(EXPORT_COLUMNS):
            sheet.write_string(r, col, str(row.get(name, "")))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(EXPORT_COLUMNS) - 1)
    workbook.close()


def to_xlsx(rows: Sequence[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    write_xlsx(rows, buf)
    return buf.getvalue()


def encode(rows: Sequence[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "json":
        return to_json(rows)
    if fmt == "xlsx":
        return to_xlsx(rows)
    return to_csv(rows)


def sent_submissions(session: Session, submission_ids: Sequence[str]) -> set[str]:
    if not submission_ids:
        return set()
    return set(
        session.scalars(
            select(ExportSentRow.submission_id).where(ExportSentRow.submission_id.in_(list(submission_ids)))
        )
    )
