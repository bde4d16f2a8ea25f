"""One item as a reviewer sees it, and the changes a decision on it would send to VBDLIS.

What the page shows and what is exported come from the same function (`candidate_changes`), so accepting a
candidate exports exactly the proposed updates shown under it: a reviewer's correction belongs to the
candidate it was made on, turns the evidence row into "corrected" (its weight was computed on the old value),
and becomes an update of that candidate only. Names are written in the registry's letter case, spelled as
printed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.document import Document
from models.findings import apply_findings
from models.proposal import Proposal
from worker.review.diff import Segment, char_diff, value_kind, values_equal
from worker.review.errors import get_submission
from worker.review.labels import display_name
from worker.store.registry import RegistryRepository
from worker.store.results import DocumentRow, ErrorRow, ProposalRow, SubmissionRow
from worker.store.review import (
    AuditRow,
    DecisionRow,
    ReviewQueueRow,
    UserRow,
    aware,
    lease_holder,
    standing_decision,
)
from worker.store.submissions import load_findings
from worker.store.worklist import ReviewExceptionRow
from worker.vntext import name_key

log = logging.getLogger(__name__)

# which fields of which documents an evidence row compares: (document field, owner line) where owner line
# None is a field of the document itself and k the k-th owner line of a certificate
EVIDENCE_SOURCES: dict[str, tuple[tuple[str, int | None], ...]] = {
    "certificate_serial": (("certificate_serial", None),),
    "registry_number": (("registry_number", None),),
    "map_sheet/parcel_number": (("map_sheet_number", None), ("parcel_number", None)),
    "commune": (("parcel_address", None),),
    "parcel_address": (("parcel_address", None),),
    "area_m2": (("area_m2", None), ("area_in_words", None)),
    "land_use_code": (("land_use_code", None), ("land_use_purpose", None)),
    "owner_residence": (("place_of_residence", None),),
    "owner_name": (("full_name", None), ("full_name", 1)),
    "owner_birth_year": (("date_of_birth", None), ("birth_year", 1)),
    "owner_id_number": (("id_number", None), ("old_id_number", None), ("id_number", 1)),
}
_CO_OWNER_FIELDS = {"name": "full_name", "birth_year": "birth_year", "id_number": "id_number"}


def is_name_field(field: str) -> bool:
    return field == "owner_name" or (field.startswith("co_owner_") and field.endswith("_name"))


def evidence_sources(field: str) -> tuple[tuple[str, int | None], ...]:
    if field.startswith("co_owner_"):
        index, _, rest = field.removeprefix("co_owner_").partition("_")
        if index.isdigit() and rest in _CO_OWNER_FIELDS:
            return ((_CO_OWNER_FIELDS[rest], int(index) + 1),)
    return EVIDENCE_SOURCES.get(field, ((field, None),))


def box_id(document_id: int, owner_index: int, name: str) -> str:
    return f"b{document_id}-{owner_index}-{name}"


# --- corrections and the changes a decision sends ---------------------------------------------------------


def verdicts(session: Session, submission_id: str) -> list[DecisionRow]:
    """The standing corrections and rejected candidates of a submission, oldest first (one query)."""
    return list(
        session.scalars(
            select(DecisionRow)
            .where(
                DecisionRow.submission_id == submission_id,
                DecisionRow.action.in_(("correct", "reject")),
                DecisionRow.undone_at.is_(None),
            )
            .order_by(DecisionRow.id)
        )
    )


def corrections_of(rows: list[DecisionRow], parcel_id: str | None = None) -> dict[tuple[str, int | None], Any]:
    """Latest correction per (field, owner_index) made on the candidate `parcel_id` (corrections from
    before they were tied to a candidate apply to every candidate)."""
    out: dict[tuple[str, int | None], Any] = {}
    for row in rows:
        if row.action == "correct" and (parcel_id is None or row.parcel_id in (None, parcel_id)):
            out[(row.field or "", row.owner_index)] = row.new_value
    return out


def corrections(
    session: Session, submission_id: str, parcel_id: str | None = None
) -> dict[tuple[str, int | None], Any]:
    return corrections_of(verdicts(session, submission_id), parcel_id)


def printed_name(value: Any, documents: list[Document]) -> Any:
    """The name spelled as a certificate prints it when one in the submission names the same person in mixed
    case, else in the registry's letter case (`NGUYỄN THỊ DUNG` → `Nguyễn Thị Dung`)."""
    if not isinstance(value, str) or not value:
        return value
    key = name_key(value)
    for doc in documents:
        for owner in doc.owners:
            fv = owner.get("full_name")
            printed = fv.value if fv is not None else None
            if isinstance(printed, str) and name_key(printed) == key and printed != printed.upper():
                return printed
    return display_name(value)


def _key_for(updates: dict[tuple[str, int | None], dict[str, Any]], field: str, owner_index: int | None) -> Any:
    """A correction typed without an owner line belongs to the update of that field, when there is one."""
    if (field, owner_index) in updates or owner_index is not None:
        return (field, owner_index)
    same = [k for k in updates if k[0] == field]
    return same[0] if len(same) == 1 else (field, owner_index)


def candidate_changes(
    proposal: Proposal, fixes: dict[tuple[str, int | None], Any], documents: list[Document]
) -> list[dict[str, Any]]:
    """The updates accepting this candidate sends to VBDLIS: the matcher's proposed updates with the
    reviewer's corrections on this candidate applied, names as printed, and nothing that changes nothing."""
    updates: dict[tuple[str, int | None], dict[str, Any]] = {}
    for u in proposal.proposed_updates:
        updates[(u.field, u.owner_index)] = {
            "field": u.field,
            "owner_index": u.owner_index,
            "record_value": u.record_value,
            "scanned_value": u.scanned_value,
            "reason": u.reason,
        }
    records = {ev.field: ev.record for ev in proposal.evidence}
    for (field, owner_index), value in fixes.items():
        key = _key_for(updates, field, owner_index)
        if key in updates:
            updates[key].update(scanned_value=value, reason="reviewer_correction")
        elif field in records:
            updates[key] = {
                "field": field,
                "owner_index": owner_index,
                "record_value": records[field],
                "scanned_value": value,
                "reason": "reviewer_correction",
            }
    out: list[dict[str, Any]] = []
    for change in updates.values():
        if is_name_field(change["field"]):
            change["scanned_value"] = printed_name(change["scanned_value"], documents)
        if not values_equal(change["record_value"], change["scanned_value"], value_kind(change["field"])):
            out.append(change)
    return sorted(out, key=lambda c: (c["field"], c["owner_index"] or 0))


def _segments(segs: list[Segment]) -> list[dict[str, str]]:
    return [{"text": s.text, "kind": s.kind} for s in segs]


def evidence_rows(
    proposal: Proposal, fixes: dict[tuple[str, int | None], Any], boxes: dict[tuple[str, int | None], list[str]]
) -> list[dict[str, Any]]:
    """The comparison rows; a corrected row compares the corrected value and says so instead of its level."""
    rows = []
    for ev in proposal.evidence:
        corrected = next((v for (f, _o), v in fixes.items() if f == ev.field), None)
        scanned = ev.scanned if corrected is None else corrected
        kind = value_kind(ev.field)
        left, right, equal = char_diff(scanned, ev.record, kind)
        agreement = ev.agreement
        if corrected is not None:
            agreement = "corrected_same" if equal else "corrected_differs"
        rows.append(
            {
                "field": ev.field,
                "scanned": scanned,
                "scanned_original": ev.scanned,
                "corrected": corrected is not None,
                "record": ev.record,
                "agreement": agreement,
                # the matcher's weight belongs to the value it compared; a corrected value was never weighed
                "weight": None if corrected is not None else ev.weight,
                "equal": equal,
                "scanned_diff": _segments(left),
                "record_diff": _segments(right),
                "boxes": [b for src in evidence_sources(ev.field) for b in boxes.get(src, [])],
            }
        )
    return rows


# --- the item ---------------------------------------------------------------------------------------------


def _document_views(docs: list[tuple[DocumentRow, Document]]) -> list[dict[str, Any]]:
    documents = []
    for row, doc in docs:
        fields = [
            {
                "name": name,
                "value": fv.value,
                "confidence": fv.confidence,
                "box": fv.box,
                "box_id": box_id(row.id, 0, name),
                "sources": fv.sources,
                "owner_index": 0,
            }
            for name, fv in doc.fields.items()
        ]
        for idx, owner in enumerate(doc.owners, start=1):
            fields.extend(
                {
                    "name": name,
                    "value": fv.value,
                    "confidence": fv.confidence,
                    "box": fv.box,
                    "box_id": box_id(row.id, idx, name),
                    "sources": fv.sources,
                    "owner_index": idx,
                }
                for name, fv in owner.items()
            )
        documents.append(
            {
                "id": row.id,
                "doc_type": row.doc_type,
                "doc_type_confidence": row.doc_type_confidence,
                "source": Path(row.source).name,
                "page": row.page,
                "part": row.part,
                "quality_score": row.quality_score,
                "warnings": list(doc.warnings),
                "has_image": bool(row.image_key) or row.source_object_id is not None,
                "boxes_align": bool(row.image_key),
                "fields": fields,
            }
        )
    return documents


def _box_index(docs: list[tuple[DocumentRow, Document]]) -> dict[tuple[str, int | None], list[str]]:
    """(field, owner line or None) → ids of the outlines drawn for it (only where the scan shown is the
    normalised page the boxes refer to)."""
    index: dict[tuple[str, int | None], list[str]] = {}
    for row, doc in docs:
        if not row.image_key:
            continue
        for name, fv in doc.fields.items():
            if fv.box:
                index.setdefault((name, None), []).append(box_id(row.id, 0, name))
        for idx, owner in enumerate(doc.owners, start=1):
            for name, fv in owner.items():
                if fv.box:
                    index.setdefault((name, idx), []).append(box_id(row.id, idx, name))
    return index


def load_documents(session: Session, submission_id: str) -> list[tuple[DocumentRow, Document]]:
    """The submission's documents as its last re-match checked them (stored documents with its findings)."""
    rows = list(
        session.scalars(
            select(DocumentRow)
            .where(DocumentRow.submission_id == submission_id)
            .order_by(DocumentRow.source, DocumentRow.page, DocumentRow.part)
        )
    )
    docs = apply_findings([Document.model_validate(row.payload) for row in rows], load_findings(session, submission_id))
    return list(zip(rows, docs, strict=True))


def proposals(session: Session, submission_id: str) -> list[ProposalRow]:
    return list(
        session.scalars(
            select(ProposalRow).where(ProposalRow.submission_id == submission_id).order_by(ProposalRow.rank)
        )
    )


def registry_records(session: Session, parcel_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The candidates' current registry records (empty when no registry is loaded yet)."""
    if not parcel_ids:
        return {}
    try:
        with session.begin_nested():
            rows = RegistryRepository(session.get_bind()).fetch(session.connection(), parcel_ids)  # type: ignore[arg-type]
    except Exception:  # no registry loaded yet: the evidence still shows the record values
        log.warning("registry lookup failed for %d parcel(s)", len(parcel_ids), exc_info=True)
        return {}
    return {pid: row.to_record().model_dump() for pid, row in rows.items()}


def candidate_views(
    session: Session, submission_id: str, docs: list[tuple[DocumentRow, Document]]
) -> list[dict[str, Any]]:
    boxes = _box_index(docs)
    documents = [doc for _row, doc in docs]
    rows = proposals(session, submission_id)
    records = registry_records(session, [p.parcel_id for p in rows])
    judged = verdicts(session, submission_id)
    rejected = {v.parcel_id for v in judged if v.action == "reject"}
    out = []
    for prow in rows:
        proposal = Proposal.model_validate(prow.payload)
        fixes = corrections_of(judged, prow.parcel_id)
        out.append(
            {
                "proposal_id": prow.id,
                "rank": prow.rank,
                "parcel_id": prow.parcel_id,
                "owner_id": proposal.owner_id,
                "owner_name": proposal.owner_name,
                "confidence": prow.confidence,
                "band": prow.band,
                "match_weight": proposal.match_weight,
                "model_version": prow.model_version or proposal.model_version,
                "notes": proposal.notes,
                "corrected": bool(fixes),
                "rejected": prow.parcel_id in rejected,
                "evidence": evidence_rows(proposal, fixes, boxes),
                "updates": candidate_changes(proposal, fixes, documents),
                "record": records.get(prow.parcel_id),
            }
        )
    return out


def decision_dict(session: Session, row: DecisionRow) -> dict[str, Any]:
    user = session.get(UserRow, row.user_id)
    return {
        "id": row.id,
        "action": row.action,
        "rank": row.rank,
        "parcel_id": row.parcel_id,
        "owner_id": row.owner_id,
        "decided_by": user.name if user else None,
        "decided_at": aware(row.decided_at),
        "model_version": row.model_version,
        "note": row.note,
        "new_record": row.new_value if row.action == "new_record" else None,
    }


def history(session: Session, submission_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditRow).where(AuditRow.submission_id == submission_id).order_by(AuditRow.at.desc(), AuditRow.id.desc())
    )
    return [audit_dict(r) for r in rows]


def audit_dict(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": aware(row.at),
        "user": row.user_name,
        "action": row.action,
        "submission_id": row.submission_id,
        "decision_id": row.decision_id,
        "model_version": row.model_version,
        "detail": row.detail,
    }


def item_view(
    session: Session,
    submission_id: str,
    user: UserRow,
    *,
    sub: SubmissionRow | None = None,
    docs: list[tuple[DocumentRow, Document]] | None = None,
    exception: ReviewExceptionRow | None = None,
) -> dict[str, Any]:
    """Everything the item page and GET /api/items/{id} show (`sub`, `docs`, `exception`: when the caller
    has them already)."""
    sub = sub or get_submission(session, submission_id)
    queue_row = session.get(ReviewQueueRow, submission_id)
    exception = exception or session.get(ReviewExceptionRow, submission_id)
    docs = docs if docs is not None else load_documents(session, submission_id)
    holder = lease_holder(session, submission_id)
    holder_name = session.get(UserRow, holder[0]).name if holder else None  # type: ignore[union-attr]
    standing = standing_decision(session, submission_id)
    return {
        "submission_id": sub.id,
        "status": sub.status,
        "review_status": sub.review_status,
        "band": sub.best_band,
        "confidence": sub.best_confidence,
        "commune_code": sub.commune_code,
        "created_at": aware(sub.created_at),
        "reason": queue_row.reason if queue_row else None,
        "exception_reasons": list(exception.reasons) if exception is not None else [],
        "exception_open": bool(exception is not None and exception.open),
        "lease": {
            "held_by_me": bool(holder and holder[0] == user.id),
            "holder": holder_name,
            "expires_at": holder[1] if holder else None,
        },
        "documents": _document_views(docs),
        "candidates": candidate_views(session, submission_id, docs),
        "decision": decision_dict(session, standing) if standing else None,
        "errors": [
            {"source": Path(e.source).name, "code": e.code, "message": e.message}
            for e in session.scalars(select(ErrorRow).where(ErrorRow.submission_id == submission_id))
        ],
        "history": history(session, submission_id),
    }
