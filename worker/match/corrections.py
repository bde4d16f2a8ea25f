"""Registry values the scans correct, proposed with a match. Only confident readings propose anything: an
OCR slip must not be offered as a correction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from models.proposal import ProposedUpdate
from worker.match.features import ScannedPerson, ScannedSubmission
from worker.store.registry import OwnerRow, ParcelRow
from worker.vntext import fold

# comparison level per field (name, id_number, birth_year ...) of a scanned person against a registry owner
Levels = Mapping[str, str | None]


def proposed_updates(
    sub: ScannedSubmission, people: Iterable[tuple[ScannedPerson, OwnerRow, Levels]], parcel: ParcelRow
) -> list[ProposedUpdate]:
    """Corrections of each matched owner (name, personal number, birth year), then of the parcel."""
    out: list[ProposedUpdate] = []
    for person, owner, levels in people:
        for update in (
            _name_update(person, owner, levels),
            _id_update(person, owner, levels),
            _birth_year_update(person, owner, levels),
        ):
            if update is not None:
                out.append(update)
    if sub.certificate_serial and not parcel.certificate_serial and sub.serial_confidence >= 0.8:
        out.append(_update("certificate_serial", None, sub.certificate_serial, "registry has no certificate serial"))
    if sub.registry_number and not parcel.registry_number:
        out.append(_update("registry_number", None, sub.registry_number, "registry has no registry number"))
    return out


def _update(fld: str, record: Any, scanned: Any, reason: str, owner_index: int | None = None) -> ProposedUpdate:
    return ProposedUpdate(field=fld, record_value=record, scanned_value=scanned, owner_index=owner_index, reason=reason)


def _name_update(person: ScannedPerson, owner: OwnerRow, levels: Levels) -> ProposedUpdate | None:
    """The registry's name where it lost its diacritics or its encoding, or where a verified scan differs."""
    name_level = levels["name"]
    if not (
        person.name and owner.name and name_level not in (None, "exact", "differs", "given_only", "middle_differs")
    ):
        return None
    record_plain = fold(owner.name) == owner.name
    reason = None
    if owner.repaired and any(enc in owner.repaired for enc in ("tcvn3", "vni", "utf8_double")):
        reason = f"registry name was in a legacy encoding ({owner.repaired})"
    elif record_plain and person.name != fold(person.name):
        reason = "registry name has no diacritics"
    elif name_level in ("tones_differ", "ocr_close") and person.name_confidence >= 0.9:
        reason = "registry name differs from the (verified) scanned name"
    if reason and person.name_confidence >= 0.5:
        return _update("owner_name", owner.name, person.name, reason, owner.owner_index)
    return None


def _id_update(person: ScannedPerson, owner: OwnerRow, levels: Levels) -> ProposedUpdate | None:
    """A missing personal number, an old 9-digit CMND for the 12-digit number, or a one-digit slip."""
    index = owner.owner_index
    scanned_id = person.id_number if person.id_number and len(person.id_number) == 12 else None
    if scanned_id and person.id_confidence >= 0.8:
        if not owner.id_number:
            return _update("owner_id_number", None, scanned_id, "registry has no personal number", index)
        if (
            len(owner.id_number) == 9
            and levels["id_number"] in ("exact", "not_comparable")
            and levels["name"] in ("exact", "tones_differ", "no_diacritics", "ocr_close")
        ):
            reason = "old 9-digit CMND → 12-digit personal number"
            return _update("owner_id_number", owner.id_number, scanned_id, reason, index)
        if len(owner.id_number) == 12 and levels["id_number"] == "ocr_close" and person.id_confidence >= 0.95:
            reason = "registry number differs by one digit from the verified card"
            return _update("owner_id_number", owner.id_number, scanned_id, reason, index)
        return None
    if person.id_number and len(person.id_number) == 9 and not owner.id_number and person.id_confidence >= 0.8:
        return _update("owner_id_number", None, person.id_number, "registry has no personal number", index)
    return None


def _birth_year_update(person: ScannedPerson, owner: OwnerRow, levels: Levels) -> ProposedUpdate | None:
    """A missing birth year, or one a year off where the names agree."""
    if not (person.birth_year is not None and person.birth_year_confidence >= 0.8):
        return None
    if owner.birth_year is None:
        return _update("owner_birth_year", None, person.birth_year, "registry has no birth year", owner.owner_index)
    if levels["birth_year"] == "off_by_one" and levels["name"] not in (None, "differs", "given_only"):
        reason = "registry birth year off by one"
        return _update("owner_birth_year", owner.birth_year, person.birth_year, reason, owner.owner_index)
    return None
