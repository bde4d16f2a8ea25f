"""Failure classes found on real captures (issue 15), each reproduced on a synthetic render and read with
real Tesseract: what went wrong there must not come back, and above all must never come back confidently."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import cv2
import numpy as np
import pytest
from PIL import Image

from fixtures.idcards import render_card
from fixtures.people import Person, make_person
from models.document import Document
from models.pages import NormalisedPage
from worker.extract import read_document
from worker.ocr import Reader, TesseractReader

HIGH = 0.9


@pytest.fixture(scope="module")
def reader() -> Reader:
    return TesseractReader("vie")


def _page(img: Image.Image) -> NormalisedPage:
    bgr = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)
    return NormalisedPage(
        source="synthetic.png", page=1, sha256="0" * 64, kind="card", image=bgr,
        ocr_image=cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
    )  # fmt: skip


def _person(generation: str, seed: str) -> Person:
    return make_person(random.Random(seed), generation=generation)


def _read(p: Person, side: str, reader: Reader) -> Document:
    img, _ = render_card(p, p.card_generation, side, random.Random(7))
    return read_document(_page(img), reader=reader)


def test_an_expiry_the_age_rule_forbids_is_never_confident(reader: Reader) -> None:
    """Real fronts: an expiry read one digit off (a year no 25th/40th/60th birthday falls in) kept 0.995 while
    the expiry rule already warned about it. A warning that names a field caps its confidence."""
    p = _person("cccd_chip_2021", "expiry-rule")
    # printed expiry one year after the 25th birthday: what a misread year digit gives
    wrong = date(p.date_of_birth.year + 26, p.date_of_birth.month, min(p.date_of_birth.day, 28))
    doc = _read(replace(p, date_of_expiry=wrong), "front", reader)
    assert doc.value("date_of_expiry") == wrong.isoformat()
    assert any(w.startswith("expiry_rule") for w in doc.warnings)
    assert doc.fields["date_of_expiry"].confidence < HIGH
