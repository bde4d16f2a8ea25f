"""F4: QR and MRZ are evidence, not authority. A rendered chip card whose QR names another registry owner
(the print is the holder's, the QR another person's) must never be auto-accepted: the proposal lands in the
review band with the conflict named. A name is letters: markup in a QR's name field never passes as a value."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageDraw

from fixtures.draw import qr_image
from fixtures.idcards import qr_payload, render_card
from fixtures.people import Person, make_person
from models.registry import REGISTRY_CSV_COLUMNS
from models.settings import Settings
from worker.match import Matcher
from worker.pipeline import process_submission
from worker.store.migrate import open_database
from worker.store.registry import import_csv

pytestmark = pytest.mark.security

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def _forged_card(holder: Person, payload: str) -> bytes:
    """The holder's chip-card front, its QR replaced by one carrying `payload` (same place, same size)."""
    img, _truth = render_card(holder, "cccd_chip_2021", "front", random.Random(5))
    scale = img.width / 1011
    old = qr_image(qr_payload(holder), round(190 * scale))
    new = qr_image(payload, round(190 * scale))
    right, top = round(990 * scale), round(18 * scale)
    ImageDraw.Draw(img).rectangle([right - old.width, top, right, top + old.height], fill=(255, 255, 255))
    img.paste(new, (right - new.width, top))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=92, dpi=(300, 300))
    return out.getvalue()


def _registry(url: str, path: Path, people: dict[str, Person]) -> Any:
    lines = [",".join(REGISTRY_CSV_COLUMNS)]
    for i, (parcel, p) in enumerate(people.items(), start=1):
        address = p.place_of_residence.replace('"', "")
        lines.append(
            f'{parcel},19789,7,{100 + i},"{address}",150,ODT,CS 90000{i},,{p.name_title},{p.birth_year},'
            f'{p.id_number},"{address}"'
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = open_database(url)
    import_csv(path, engine)
    return engine


def test_a_card_whose_qr_names_another_owner_goes_to_review_with_the_conflict_named(
    sqlite_url: str, tmp_path: Path
) -> None:
    holder = make_person(random.Random(101), generation="cccd_chip_2021")
    other = make_person(random.Random(202), generation="cccd_chip_2021")
    assert holder.id_number != other.id_number and holder.full_name != other.full_name
    engine = _registry(sqlite_url, tmp_path / "parcels.csv", {"P-HOLDER": holder, "P-OTHER": other})
    card = _forged_card(holder, qr_payload(other))
    result = process_submission(
        "F4", [("card.jpg", card)], settings=SETTINGS, propose=Matcher(engine, SETTINGS).propose
    )
    (doc,) = result.documents
    assert any(w.startswith("id_number_mismatch") for w in doc.warnings), doc.warnings  # the QR was read
    assert result.proposals
    assert all(p.band != "auto_accept" for p in result.proposals)
    top = result.proposals[0]
    assert top.band == "review", (top.parcel_id, top.confidence, top.band)
    assert any("QR code or MRZ disagrees" in n and "id_number_mismatch" in n for n in top.notes), top.notes


def test_markup_in_a_name_never_passes(sqlite_url: str, tmp_path: Path) -> None:
    holder = make_person(random.Random(303), generation="cccd_chip_2021")
    fields = qr_payload(holder).split("|")
    fields[2] = "<SCRIPT>ALERT(1)</SCRIPT>"
    card = _forged_card(holder, "|".join(fields))
    (doc,) = process_submission("F4b", [("card.jpg", card)], settings=SETTINGS).documents
    values = [str(fv.value) for fv in doc.fields.values() if fv.value is not None]
    assert not [v for v in values if "<" in v or ">" in v], values
    name = doc.fields.get("full_name")
    assert name is None or name.value is None or "SCRIPT" not in str(name.value)
