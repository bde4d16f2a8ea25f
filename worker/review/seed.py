"""Review data for tests and demos: store read documents and candidate proposals as the worker would.

`toy_proposals` is NOT the matcher: it is a transparent comparison of a few fields so the review app can be
exercised (and its screenshots looked at) before, and independently of, the real matching engine."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.document import Document
from models.proposal import Band, Evidence, Proposal, ProposedUpdate
from worker.store.results import SubmissionRow, utcnow
from worker.store.submissions import replace_proposals, save_documents
from worker.vntext import clean, name_key, strip_diacritics

TOY_MODEL_VERSION = "toy-0"


def seed_submission(
    session: Session,
    submission_id: str,
    documents: Sequence[Document],
    proposals: Sequence[Proposal],
    *,
    image_keys: Mapping[int, str] | None = None,
    commune_code: str | None = None,
    created_at: datetime | None = None,
    origin: str = "cli",
) -> SubmissionRow:
    """Insert a processed submission with its documents (image_keys: document index -> derived image key)
    and its proposals ranked by confidence, setting the summary columns the review queue reads."""
    ranked = sorted(proposals, key=lambda p: p.confidence, reverse=True)
    now = created_at or utcnow()
    sub = SubmissionRow(
        id=submission_id,
        origin=origin,
        status="processed",
        commune_code=commune_code,
        created_at=now,
        updated_at=now,
        matched_at=now,
        review_status="pending",
        best_band=ranked[0].band if ranked else None,
        best_confidence=ranked[0].confidence if ranked else None,
    )
    session.add(sub)
    session.flush()
    keys = {(doc.page, doc.part or 0): key for i, doc in enumerate(documents) if (key := (image_keys or {}).get(i))}
    save_documents(session, submission_id, documents, image_keys=keys)
    replace_proposals(session, submission_id, ranked)
    sub.matched_at = now
    session.flush()
    return sub


def _agreement(scanned: Any, record: Any, kind: str) -> tuple[str, float]:
    if scanned in (None, "") or record in (None, ""):
        return "missing", 0.0
    a, b = clean(str(scanned)), clean(str(record))
    if kind == "name":
        if a.upper() == b.upper():
            return "exact", 6.0
        if name_key(a) == name_key(b):
            return "exact_no_diacritics", 4.0
        return "differs", -5.0
    if kind == "id" and a.isdigit() and b.isdigit() and len(a) != len(b):
        return "missing", 0.0  # a 12-digit number against an old 9-digit CMND: not comparable
    if a.replace(" ", "").upper() == b.replace(" ", "").upper():
        return "exact", 10.0 if kind == "id" else 3.0
    if strip_diacritics(a).upper() == strip_diacritics(b).upper():
        return "exact_no_diacritics", 2.0
    return "differs", -6.0 if kind == "id" else -2.0


def band_for(confidence: float, auto_accept: float = 0.95, review: float = 0.5) -> Band:
    return "auto_accept" if confidence >= auto_accept else "review" if confidence >= review else "unlikely"


def toy_proposals(
    documents: Sequence[Document],
    candidates: Sequence[Mapping[str, Any]],
    *,
    owner_ids: Sequence[str] | None = None,
    prior_weight: float = -4.0,
    auto_accept: float = 0.95,
    review: float = 0.5,
) -> list[Proposal]:
    """One proposal per registry row (keys as in parcels.csv) comparing the scanned ID card fields."""
    scanned: dict[str, Any] = {}
    for doc in documents:
        for name, fv in doc.fields.items():
            scanned.setdefault(name, fv.value)
    dob = scanned.get("date_of_birth")
    birth_year = int(str(dob)[:4]) if dob else None
    out: list[Proposal] = []
    for i, row in enumerate(candidates):
        evidence: list[Evidence] = []
        for field, value, record, kind in (
            ("owner_id_number", scanned.get("id_number"), row.get("owner_id_number"), "id"),
            ("owner_name", scanned.get("full_name"), row.get("owner_name"), "name"),
            ("owner_birth_year", birth_year, row.get("owner_birth_year"), "year"),
            ("certificate_serial", scanned.get("certificate_serial"), row.get("certificate_serial"), "id"),
        ):
            if value is None and record in (None, ""):
                continue
            agreement, weight = _agreement(value, record, kind)
            evidence.append(
                Evidence(field=field, scanned=value, record=record or None, agreement=agreement, weight=weight)
            )
        total = prior_weight + sum(e.weight for e in evidence)
        confidence = round(1 / (1 + math.pow(2, -total)), 4)
        updates = [
            ProposedUpdate(
                field=e.field,
                record_value=e.record,
                scanned_value=e.scanned,
                owner_index=1,
                reason="diacritics" if e.agreement == "exact_no_diacritics" else "missing_in_registry",
            )
            for e in evidence
            if e.field in ("owner_name", "owner_id_number")
            and e.scanned not in (None, "")
            and e.agreement in ("exact_no_diacritics", "missing")
        ]
        out.append(
            Proposal(
                parcel_id=str(row["parcel_id"]),
                confidence=confidence,
                band=band_for(confidence, auto_accept, review),
                evidence=evidence,
                proposed_updates=updates,
                owner_id=(owner_ids[i] if owner_ids else f"{row['parcel_id']}-1"),
                owner_name=row.get("owner_name") or None,
                match_weight=round(total, 2),
                model_version=TOY_MODEL_VERSION,
            )
        )
    return out


def read_registry_csv(path: Any) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        year = row.get("owner_birth_year")
        row["owner_birth_year"] = int(year) if year else None
    return rows
