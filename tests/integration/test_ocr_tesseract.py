"""The Tesseract reader: both backends, boxes in input coordinates, whitelists, per-character detail, the
element tree it returns."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.idcards import DEFAULT_PROFILES, _cases, _run_case
from fixtures.fonts import font
from worker.ocr import tesseract
from worker.ocr.reader import TesseractReader
from worker.ocr.tesseract import backend

READER = TesseractReader("vie")
ocr_image = READER.read
read_line = READER.read_line


def _line(text: str, size: int = 28, width: int = 760) -> np.ndarray:
    img = Image.new("L", (width, size * 2 + 20), 245)
    ImageDraw.Draw(img).text((20, 14), text, font=font("sans_bold", size), fill=15)
    return np.asarray(img)


def test_reads_vietnamese_capitals_with_stacked_diacritics() -> None:
    r = ocr_image(_line("NGUYỄN THỊ HỒNG NHUNG"), psm=7)
    assert r.text == "NGUYỄN THỊ HỒNG NHUNG"
    assert len(r.lines) == 1 and len(r.lines[0].words) == 4
    assert all(0.5 < w.confidence <= 1.0 for w in r.words)


def test_boxes_are_in_input_coordinates_when_upscaled() -> None:
    img = _line("Số 046090012345")
    a = ocr_image(img, psm=7)
    b = ocr_image(img, psm=7, scale=2.0)
    assert a.text == b.text
    for wa, wb in zip(a.words, b.words, strict=True):
        assert all(abs(x - y) <= 3 for x, y in zip(wa.box, wb.box, strict=True))


def test_whitelist_and_choices() -> None:
    r = read_line(_line("NGÀY 15/03/1990"), whitelist="0123456789/", psm=7)
    assert "15/03/1990" in r.text and not any(c.isalpha() for c in r.text)
    r = read_line(_line("HỒNG"), psm=7, choices=True)
    assert r.text == "HỒNG"
    assert all(s.choices and s.choices[0][0] == s.text for s in r.symbols)
    # each word of a character-level read carries its symbols and its box in the image's coordinates
    assert "".join(s.text for s in r.words[0].symbols) == r.words[0].text == "HỒNG"
    assert r.words[0].box[2] > 0 and r.words[0].box[3] > 0
    # the whitelist is reset: the next caller on the shared engine reads letters again
    assert read_line(_line("HỒNG"), psm=7).text == "HỒNG"


def test_blank_image_gives_no_text() -> None:
    blank = np.full((80, 400), 240, np.uint8)
    assert ocr_image(blank).lines == []
    assert ocr_image(blank, psm=6).lines == []


@pytest.mark.skipif(backend() != "tesserocr", reason="the in-process backend is not installed")
def test_pytesseract_fallback_reads_the_same() -> None:
    img = _line("Họ và tên: TRẦN VĂN ĐỨC")
    fast = ocr_image(img, psm=7)
    with mock.patch.object(tesseract, "backend", return_value="pytesseract"):
        slow = ocr_image(img, psm=7)
        per_char = read_line(img, psm=7)
    assert slow.text == fast.text
    assert [w.text for w in slow.words] == [w.text for w in fast.words]
    assert per_char.text == fast.text


def test_a_box_without_text_is_an_empty_word_not_a_crash() -> None:
    """Tesseract keeps a box with no text for some specks on a JPEG-damaged card back; tesserocr then raises
    "No text returned" from the iterator. This generated card (the ID-card benchmark's seed 11, #116) hit it."""
    case = _cases(200, 11, DEFAULT_PROFILES)[116]
    result = _run_case(case, False, ())
    assert result["got"]["doc_type"][0] == "cmnd_back"
    assert result["got"]["issue_date"][0] == result["expected"]["issue_date"]


@pytest.mark.skipif(backend() != "tesserocr", reason="the in-process backend is not installed")
def test_the_shared_engine_holds_no_image_or_results_after_a_read() -> None:
    ocr_image(_line("HỒNG"), psm=7)
    assert tesseract._api("vie", 7).GetIterator() is None
    read_line(_line("HỒNG"), psm=7, choices=True)
    assert tesseract._api("vie", 7).GetIterator() is None
