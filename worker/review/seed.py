"""Review data for tests and demos: store read documents and candidate proposals as the worker would.

`toy_proposals` is NOT the matcher: it is a transparent comparison of a few fields so the review app can be
exercised (and its screenshots looked at) before, and independently of, the real matching engine."""

from __future__ import annotations

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
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        year = row.get("owner_birth_year")
        row["owner_birth_year"] = int(year) if year else None
    return rows


def read_samples(
    settings: Any,
    samples_dir: Any,
    submission_id: str,
    *,
    files: Sequence[str] | None = None,
    store_as: str | None = None,
) -> tuple[list[Document], dict[int, str]]:
    """Read a generated submission (fixtures.samples layout) with the real pipeline and keep its normalised page
    images under data_dir/derived like the worker: (documents, document index -> derived image key)."""
    from pathlib import Path

    import cv2

    from worker.pipeline import read_file

    sid = store_as or submission_id
    derived = Path(settings.data_dir) / "derived"
    derived.mkdir(parents=True, exist_ok=True)
    documents: list[Document] = []
    image_keys: dict[int, str] = {}
    for path in sorted((Path(samples_dir) / "submissions" / submission_id).iterdir()):
        if files is not None and path.name not in files:
            continue
        result = read_file(path.read_bytes(), path.name, settings=settings, keep_pages=True)
        for doc, page in zip(result.documents, result.pages, strict=False):
            ok, buf = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, 88])
            if ok:
                key = f"derived/{sid}-{len(documents)}.jpg"
                (Path(settings.data_dir) / key).write_bytes(buf.tobytes())
                image_keys[len(documents)] = key
            documents.append(doc)
    return documents, image_keys


def seed_from_samples(
    session: Session,
    settings: Any,
    samples_dir: Any,
    submission_id: str,
    *,
    files: Sequence[str] | None = None,
    decoys: int = 1,
    store_as: str | None = None,
    commune_code: str | None = None,
    created_at: datetime | None = None,
    prior_weight: float = -4.0,
) -> SubmissionRow:
    """Read a generated submission with the real pipeline (see read_samples) and propose its true registry
    parcel plus `decoys` others (toy proposals)."""
    import json
    from pathlib import Path

    root = Path(samples_dir)
    truth = next(
        t
        for t in (json.loads(line) for line in (root / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line)
        if t["submission_id"] == submission_id
    )
    registry = read_registry_csv(root / "parcels.csv")
    sid = store_as or submission_id
    documents, image_keys = read_samples(settings, root, submission_id, files=files, store_as=store_as)
    rows_by_parcel: dict[str, list[dict[str, Any]]] = {}
    for row in registry:
        rows_by_parcel.setdefault(row["parcel_id"], []).append(row)
    candidates: list[dict[str, Any]] = []
    owner_ids: list[str] = []
    if truth.get("parcel_id") and truth["parcel_id"] in rows_by_parcel:
        owner_index = truth.get("owner_index") or 1
        rows = rows_by_parcel[truth["parcel_id"]]
        candidates.append(rows[min(owner_index, len(rows)) - 1])
        owner_ids.append(f"{truth['parcel_id']}-{min(owner_index, len(rows))}")
    for pid, rows in rows_by_parcel.items():
        if len(candidates) >= decoys + 1:
            break
        if pid != truth.get("parcel_id"):
            candidates.append(rows[0])
            owner_ids.append(f"{pid}-1")
    proposals = toy_proposals(
        documents,
        candidates,
        owner_ids=owner_ids,
        prior_weight=prior_weight,
        auto_accept=settings.auto_accept_threshold,
        review=settings.review_threshold,
    )
    return seed_submission(
        session,
        sid,
        documents,
        proposals,
        image_keys=image_keys,
        commune_code=commune_code or (candidates[0].get("commune_code") if candidates else None),
        created_at=created_at,
    )
