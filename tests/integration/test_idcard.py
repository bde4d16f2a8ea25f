"""ID-card extraction end to end on generated cards of every generation: real images, and what Tesseract
read on them replayed by the recorded reader (tests/plugins/ocr.py); one test reads with Tesseract itself."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta
from functools import cache

import numpy as np
import pytest
from plugins.pages import rendered_page

from fixtures.idcards import render_card
from fixtures.people import CARD_GENERATIONS, make_person
from models.document import Document
from models.pages import NormalisedPage
from worker.extract import cross_check, read_document
from worker.extract.idcard.card import machine_readable_fields
from worker.ocr import MrzResult, Reader, TesseractReader, parse_cccd_qr
from worker.vntext import clean

# seeds whose people exercise stacked diacritics, a wrapped residence and an old 9-digit number
SEED = 20261


@cache
def _person(generation: str):
    return make_person(random.Random(f"{SEED}-{generation}"), generation=generation)


@cache
def _read(reader: Reader, generation: str, side: str) -> tuple[Document, dict]:
    img, truth = render_card(_person(generation), generation, side, random.Random(SEED), with_mrz=True)
    return read_document(rendered_page(img), reader=reader), truth


def _same(got, expected) -> bool:
    if got is None or expected is None:
        return got == expected
    return clean(str(got)) == clean(str(expected))


@pytest.mark.parametrize("generation", CARD_GENERATIONS)
@pytest.mark.parametrize("side", ["front", "back"])
def test_every_generation_is_classified_and_read(generation: str, side: str, recorded_reader: Reader) -> None:
    doc, truth = _read(recorded_reader, generation, side)
    assert doc.doc_type == truth["doc_type"]
    assert doc.value("card_generation") == generation
    assert doc.doc_type_confidence >= 0.7
    expected = {k: v for k, v in truth["fields"].items() if k not in ("card_generation", "mrz")}
    right = [k for k, v in expected.items() if _same(doc.value(k), v)]
    wrong = {k: (doc.value(k), v) for k, v in expected.items() if k not in right}
    # every field the truth has for this side, with at most one miss (OCR of a clean card is near-perfect)
    assert len(right) >= len(expected) - 1, wrong
    for key in ("id_number", "date_of_birth"):
        if key in expected:
            assert key in right, wrong
    for name, fv in doc.fields.items():
        assert 0.0 <= fv.confidence <= 1.0, name


def test_chip_front_reads_the_qr_and_confirms_print(recorded_reader: Reader) -> None:
    doc, truth = _read(recorded_reader, "cccd_chip_2021", "front")
    p = _person("cccd_chip_2021")
    assert doc.fields["id_number"].value == p.id_number
    # the layout pass's reading of the print confirms the QR's number (the QR settles it: no re-read)
    assert {"qr", "layout"} <= set(doc.fields["id_number"].sources)
    assert doc.fields["id_number"].confidence >= 0.95
    assert doc.value("full_name") == clean(p.full_name).upper()
    assert doc.value("issue_date") == truth["fields"]["issue_date"]
    if p.old_id_number:
        assert doc.value("old_id_number") == p.old_id_number
    assert doc.value("place_of_residence_normalised")


def test_chip_back_mrz_is_verified_and_decoded(recorded_reader: Reader) -> None:
    doc, truth = _read(recorded_reader, "cccd_chip_2021", "back")
    assert doc.value("mrz") == truth["fields"]["mrz"]
    for key in ("id_number", "date_of_birth", "sex", "date_of_expiry"):
        assert doc.value(key) == truth["fields"][key], key
        assert "mrz" in doc.fields[key].sources
    assert not [w for w in doc.warnings if w.startswith("mrz_check_failed")]


def test_front_and_back_of_one_card_agree(recorded_reader: Reader) -> None:
    front, _ = _read(recorded_reader, "cccd_chip_2021", "front")
    back, _ = _read(recorded_reader, "cccd_chip_2021", "back")
    docs = [front.model_copy(deep=True), back.model_copy(deep=True)]
    cross_check(docs)
    assert not [w for d in docs for w in d.warnings if "front_back_mismatch" in w]


def test_mrz_disagreeing_with_the_front_warns_and_lowers_confidence(recorded_reader: Reader) -> None:
    p = _person("cccd_chip_2021")
    front, _ = _read(recorded_reader, "cccd_chip_2021", "front")
    # the same card's back, but its MRZ encodes a birth date two days off (same year, so the number's
    # structure still holds and only the cross-check can catch it)
    other = dataclasses.replace(
        p, date_of_birth=p.date_of_birth + timedelta(days=2 if p.date_of_birth.day < 27 else -2)
    )
    img, _ = render_card(other, "cccd_chip_2021", "back", random.Random(SEED))
    back = read_document(rendered_page(img), reader=recorded_reader)
    assert back.value("date_of_birth") == other.date_of_birth.isoformat()
    before = (front.fields["date_of_birth"].confidence, back.fields["date_of_birth"].confidence)
    docs = [front.model_copy(deep=True), back]
    cross_check(docs)
    warnings = [w for d in docs for w in d.warnings if w.startswith("date_of_birth_front_back_mismatch")]
    assert warnings and p.date_of_birth.isoformat() in warnings[0] and other.date_of_birth.isoformat() in warnings[0]
    assert docs[0].fields["date_of_birth"].confidence < before[0]
    assert docs[1].fields["date_of_birth"].confidence < before[1]


def test_mismatched_number_between_cards_is_flagged(recorded_reader: Reader) -> None:
    a, _ = _read(recorded_reader, "cccd_chip_2021", "front")
    b, _ = _read(recorded_reader, "cancuoc_2024", "front")
    docs = [a.model_copy(deep=True), b.model_copy(deep=True)]
    cross_check(docs)
    assert all(any(w.startswith("id_number_mismatch_between_cards") for w in d.warnings) for d in docs)


def test_a_blank_card_is_unknown_without_crashing(recorded_reader: Reader) -> None:
    blank = np.full((638, 1011, 3), 235, np.uint8)
    doc = read_document(
        NormalisedPage(source="b", page=1, sha256="0", kind="card", image=blank, ocr_image=blank[:, :, 0].copy()),
        reader=recorded_reader,
    )
    assert doc.doc_type == "unknown" and doc.fields == {}


def test_fields_a_qr_or_a_checked_mrz_gives_need_no_second_layout_pass() -> None:
    qr = parse_cccd_qr(
        "046069331514|193880143|HUỲNH HỮU PHÚC|15041969|Nam|41/40 Lê Huân, Phường Thủy Xuân, Huế|29102021"
    )
    assert qr is not None
    assert machine_readable_fields(qr, None) == {
        "id_number", "full_name", "place_of_residence", "date_of_birth", "sex", "issue_date",
    }  # fmt: skip
    # printed only (origin, nationality, expiry) still get their second pass
    assert not {"place_of_origin", "nationality", "date_of_expiry"} & machine_readable_fields(qr, None)
    zone = MrzResult(lines=[], id_number="046069331514", sex="male", checks={"composite": True})
    assert machine_readable_fields(None, zone) == {"id_number", "sex"}
    failed = dataclasses.replace(zone, checks={"composite": False})
    assert machine_readable_fields(None, failed) == set()


def test_real_tesseract_reads_a_chip_card_front_as_recorded(recorded_reader: Reader) -> None:
    """The recording stands for Tesseract: the real engine on the same card gives the same document."""
    img, _ = render_card(_person("cccd_chip_2021"), "cccd_chip_2021", "front", random.Random(SEED), with_mrz=True)
    live = read_document(rendered_page(img), reader=TesseractReader("vie"))
    assert live.doc_type == "cccd_front" and live.value("id_number") == _person("cccd_chip_2021").id_number
    assert live.model_dump() == _read(recorded_reader, "cccd_chip_2021", "front")[0].model_dump()
