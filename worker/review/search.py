"""Search: registry parcels (for attaching the right one to a submission) and submissions and their documents
(the document browser), by CCCD/CMND number, name with or without diacritics, certificate serial or registry
number, map sheet and parcel number, address, parcel id, case number or submission id.

One search box: what was typed says what it is (12 or 9 digits: a personal number; `12/345` or `tờ 12 thửa
345`: sheet and parcel; two letters and digits: a serial; `HS…`: a case number; a house number and street:
an address; anything else: a name). Every registry lookup is an indexed query (names and addresses by key
prefix); only an address with no house number falls back to a bounded text scan."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, null, or_, select, text
from sqlalchemy.orm import Session

from worker.keys import address_key as house_street_key
from worker.keys import serial_key
from worker.store.registry import RegistryOwner, RegistryParcel, RegistryRepository
from worker.store.results import DocumentRow, SubmissionRow
from worker.store.review import UploadRow
from worker.store.worklist import SearchKeyRow
from worker.vntext import address_key, clean, fold, name_key

KINDS = ("auto", "id", "name", "serial", "ref", "address", "parcel", "case")
LIMIT = 50
_REF = re.compile(r"(?:to(?: ban do)?(?: so)?\s*)?(\d{1,5})\s*(?:[/,\-]|\s)\s*(?:thua(?: dat)?(?: so)?\s*)?(\d{1,6})")
_SERIAL = re.compile(r"[a-z]{1,3}\s?[\d.]{4,9}")


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    key: str
    sheet: int | None = None
    parcel: int | None = None


def parse(raw: str, kind: str = "auto") -> Query | None:
    """What the text is and its search key; None when there is nothing to search for."""
    value = clean(raw)[:200]
    if not value:
        return None
    folded = fold(value).lower()
    digits = re.sub(r"[\s.]", "", value)
    ref = _REF.fullmatch(folded)
    if kind == "auto":
        if digits.isdigit() and len(digits) in (9, 12):
            kind = "id"
        elif ref:
            kind = "ref"
        elif folded.startswith("hs"):
            kind = "case"
        elif _SERIAL.fullmatch(folded):
            kind = "serial"
        elif value[0].isdigit():
            kind = "address"
        else:
            kind = "name"
    if kind == "id":
        return Query(kind, value, digits) if digits.isdigit() else None
    if kind == "ref":
        return (
            Query(kind, value, f"{ref.group(1)}/{ref.group(2)}", int(ref.group(1)), int(ref.group(2))) if ref else None
        )
    if kind == "serial":
        key = serial_key(value)
        return Query(kind, value, key) if key else None
    if kind == "address":
        return Query(kind, value, address_key(value))
    if kind == "case":
        return Query(kind, value, value.upper())
    if kind == "parcel":
        return Query(kind, value, value)
    return Query("name", value, name_key(value))


# --- the registry -------------------------------------------------------------------------------------------


@dataclass
class ParcelHit:
    record: dict[str, Any]
    owners_matched: list[str] = field(default_factory=list)  # owner ids the query found


def _lookups(q: Query) -> list[Any]:
    """Statements selecting (parcel_id, owner_id or NULL) for the query, most specific first."""
    owners = select(RegistryOwner.parcel_id, RegistryOwner.owner_id)
    parcels = select(RegistryParcel.parcel_id, null())
    if q.kind == "id":
        return [owners.where(RegistryOwner.id_number == q.key)]
    if q.kind == "name" and q.key:
        # name keys are upper-case ASCII: a prefix range on the (name_key, birth_year) index
        return [owners.where(RegistryOwner.name_key >= q.key, RegistryOwner.name_key < q.key + "~")]
    if q.kind == "serial":
        found = [parcels.where(or_(RegistryParcel.serial_key == q.key, RegistryParcel.registry_key == q.key))]
        number = re.sub(r"\D", "", q.key)
        if len(number) >= 6:
            found.append(parcels.where(RegistryParcel.serial_number == number))
        return found
    if q.kind == "ref" and q.sheet is not None:
        return [parcels.where(RegistryParcel.map_sheet_number == q.sheet, RegistryParcel.parcel_number == q.parcel)]
    if q.kind == "parcel":
        return [parcels.where(RegistryParcel.parcel_id == q.key)]
    if q.kind == "address":
        key = house_street_key(q.text)
        if key:
            return [
                parcels.where(RegistryParcel.address_key >= key, RegistryParcel.address_key < key + "~"),
                owners.where(RegistryOwner.address_key >= key, RegistryOwner.address_key < key + "~"),
            ]
        # no house number: the address as typed, anywhere in the parcel's address (a bounded scan)
        return [parcels.where(RegistryParcel.address.like(f"%{q.text}%"))]
    return []


def search_registry(engine: Engine, q: Query, *, commune: str | None = None, limit: int = LIMIT) -> list[ParcelHit]:
    """Registry parcels (with their owners) the query finds."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for stmt in _lookups(q):
            for pid, owner_id in conn.execute(stmt.limit(limit)):
                owners = found.setdefault(pid, [])
                if owner_id:
                    owners.append(owner_id)
            if len(found) >= limit:
                break
        rows = RegistryRepository(engine).fetch(conn, list(found)[:limit])
    hits = [ParcelHit(rows[pid].to_record().model_dump(), found[pid]) for pid in found if pid in rows]
    if commune:
        hits = [h for h in hits if h.record.get("commune_code") == commune]
    return hits


def registry_loaded(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM registry_parcels LIMIT 1")).first() is not None


# --- submissions and documents ------------------------------------------------------------------------------


@dataclass
class SubmissionHit:
    submission_id: str
    status: str
    band: str | None
    review_status: str
    case_number: str | None
    documents: list[dict[str, Any]] = field(default_factory=list)  # the documents the query found in it


_KEY_KINDS = {"id": "id", "name": "name", "serial": "serial", "ref": "ref", "address": "address", "case": "case"}


def search_submissions(session: Session, q: Query, *, limit: int = LIMIT) -> list[SubmissionHit]:
    """Submissions (and which of their documents) the query finds, newest first; the submission id and the
    case number are found by prefix too."""
    matches: dict[str, set[int]] = {}
    kind = _KEY_KINDS.get(q.kind)
    if kind and q.key:
        cond = SearchKeyRow.key == q.key
        if kind in ("name", "address"):
            cond = or_(cond, (SearchKeyRow.key >= q.key) & (SearchKeyRow.key < q.key + "~"))
        for sid, doc_id in session.execute(
            select(SearchKeyRow.submission_id, SearchKeyRow.document_id)
            .where(SearchKeyRow.kind == kind, cond)
            .limit(limit * 4)
        ):
            docs = matches.setdefault(sid, set())
            if doc_id is not None:
                docs.add(doc_id)
    for (sid,) in session.execute(
        select(SubmissionRow.id).where(SubmissionRow.id.like(f"{q.text}%")).order_by(SubmissionRow.id).limit(limit)
    ):
        matches.setdefault(sid, set())
    for (sid,) in session.execute(
        select(UploadRow.submission_id).where(UploadRow.case_number.like(f"{q.text.upper()}%")).limit(limit)
    ):
        matches.setdefault(sid, set())
    if not matches:
        return []
    subs = {
        s.id: s
        for s in session.scalars(
            select(SubmissionRow).where(SubmissionRow.id.in_(list(matches))).order_by(SubmissionRow.created_at.desc())
        )
    }
    cases = dict(
        session.execute(
            select(UploadRow.submission_id, UploadRow.case_number).where(UploadRow.submission_id.in_(list(matches)))
        ).all()
    )
    wanted = [d for docs in matches.values() for d in docs]
    documents: dict[int, dict[str, Any]] = {}
    if wanted:
        for row in session.scalars(select(DocumentRow).where(DocumentRow.id.in_(wanted))):
            documents[row.id] = {"id": row.id, "doc_type": row.doc_type, "source": row.source.rsplit("/", 1)[-1]}
    hits = [
        SubmissionHit(
            submission_id=sid,
            status=sub.status,
            band=sub.best_band,
            review_status=sub.review_status,
            case_number=cases.get(sid),
            documents=[documents[d] for d in sorted(matches[sid]) if d in documents],
        )
        for sid, sub in subs.items()
    ]
    return hits[:limit]
