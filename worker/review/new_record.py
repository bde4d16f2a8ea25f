"""A new registry record, for a parcel the registry does not have: its fields checked, and a first draft of
them from the scans for the reviewer to complete."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from models.document import Document
from models.registry import REGISTRY_CSV_COLUMNS
from worker.review.errors import ReviewError
from worker.vntext import clean

MAX_VALUE_LENGTH = 500
# what a new registry record needs, as a reviewer fills it in from the scans
NEW_RECORD_FIELDS = tuple(
    "parcel_address" if c == "address" else c for c in REGISTRY_CSV_COLUMNS if c != "parcel_id"
)  # the registry export's columns: VBDLIS creates the parcel id
_INTEGER_FIELDS = {"map_sheet_number": (1, 100_000), "parcel_number": (1, 1_000_000), "owner_birth_year": (1880, 2030)}


def clean_new_record(values: dict[str, Any]) -> dict[str, Any]:
    """The fields of a new registry record, checked: a commune code, the owner's name, and where the parcel
    is (sheet and parcel number, or its address)."""
    out: dict[str, Any] = {}
    for name in NEW_RECORD_FIELDS:
        raw = values.get(name)
        text = clean(str(raw)) if raw not in (None, "") else ""
        if not text:
            continue
        if len(text) > MAX_VALUE_LENGTH:
            raise ReviewError("bad_value", 422)
        if name in _INTEGER_FIELDS:
            lo, hi = _INTEGER_FIELDS[name]
            if not text.isdigit() or not lo <= int(text) <= hi:
                raise ReviewError("bad_new_record_field", 422, field=name)
            out[name] = int(text)
        elif name == "area_m2":
            try:
                out[name] = float(text.replace(",", "."))
            except ValueError:
                raise ReviewError("bad_new_record_field", 422, field=name) from None
        elif name == "commune_code" and not re.fullmatch(r"\d{5}", text):
            raise ReviewError("bad_new_record_field", 422, field=name)
        else:
            out[name] = text
    located = ("map_sheet_number" in out and "parcel_number" in out) or "parcel_address" in out
    if "commune_code" not in out or "owner_name" not in out or not located:
        raise ReviewError("new_record_incomplete", 422)
    return out


def new_record_draft(documents: Sequence[Document], commune_code: str | None = None) -> dict[str, Any]:
    """A new record's fields as the scans give them, for the reviewer to check and complete."""
    found: dict[str, Any] = {"commune_code": commune_code}
    plain = {
        "map_sheet_number": "map_sheet_number",
        "parcel_number": "parcel_number",
        "parcel_address": "parcel_address",
        "area_m2": "area_m2",
        "land_use_code": "land_use_code",
        "certificate_serial": "certificate_serial",
        "registry_number": "registry_number",
        "commune_code": "commune_code",
    }
    person = {"owner_name": "full_name", "owner_id_number": "id_number", "owner_address": "place_of_residence"}
    for doc in documents:
        for target, source in plain.items():
            if found.get(target) is None and doc.value(source) is not None:
                found[target] = doc.value(source)
        owner = doc.owners[0] if doc.owners else {}
        for target, source in person.items():
            fv = owner.get(source) or doc.fields.get(source)
            if found.get(target) is None and fv is not None and fv.value:
                found[target] = fv.value
        birth = owner.get("birth_year") or doc.fields.get("date_of_birth")
        if found.get("owner_birth_year") is None and birth is not None and birth.value:
            found["owner_birth_year"] = int(str(birth.value)[:4])
    return {k: v for k, v in found.items() if v is not None}
