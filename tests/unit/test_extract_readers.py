"""The parts every reader shares: the element tree, the visual-line grouper, the confusion table, the
classifier's evidence, the page scan's codes (decoded once) and the extractor registry. No Tesseract."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import segno

from models import fields as F
from models.elements import Block, Line, TextPage, Word, union
from models.pages import NormalisedPage
from worker.extract.classify import classify, decide, text_evidence
from worker.extract.gcn import CertificateExtractor
from worker.extract.idcard import IdCardExtractor
from worker.extract.lines import visual_lines
from worker.extract.registry import EXTRACTORS, extractor_for
from worker.extract.scan import PageScan
from worker.ocr import Reader, ReadOptions, TesseractReader, confusions

GCN_PAGE2 = "II. Thửa đất, nhà ở và tài sản khác gắn liền với đất\na) Thửa đất số: 36; tờ bản đồ số: 12"
CMND_BACK = "DÂN TỘC: Kinh TÔN GIÁO: Không\nDẤU VẾT RIÊNG VÀ DỊ HÌNH\nNgày 13 tháng 09 năm 2020"


def _word(text: str, x: int, y: int = 100, h: int = 20) -> Word:
    return Word(text=text, confidence=0.9, box=(x, y, 12 * len(text), h))


def test_a_line_is_its_words_joined() -> None:
    line = Line.of([_word("Thửa", 10), _word("đất", 80, y=104)])
    assert line.text == "Thửa đất" and line.confidence == pytest.approx(0.9)
    assert line.box == (10, 100, 80 + 36 - 10, 24)
    assert union([]) == (0, 0, 0, 0)
    page = TextPage(blocks=[Block(lines=[line]), Block(lines=[Line.of([_word("số", 10, y=200)])])])
    assert page.text == "Thửa đất\nsố" and [w.text for w in page.words] == ["Thửa", "đất", "số"]
    # the tree round-trips through JSON (what the recorded reader stores)
    assert TextPage.model_validate(page.model_dump(mode="json")) == page


def test_lines_side_by_side_are_one_visual_line_and_overlapping_ones_are_not() -> None:
    left = Line.of([_word("Ngày", 10), _word("16", 70)])
    right = Line.of([_word("tháng", 200, 102), _word("12", 280, 102)], confidence=0.5)
    below = Line.of([_word("Nơi", 10, y=160)])
    # a line overlapping both (another row of a table, read at nearly the same height) joins neither
    overlapping = Line.of([_word("x" * 20, 60, y=101)])
    joined = visual_lines([right, below, left, overlapping])
    assert [ln.text for ln in joined] == ["Ngày 16 tháng 12", "x" * 20, "Nơi"]
    assert joined[0].confidence == 0.5  # the lowest of its parts
    assert visual_lines([below])[0] is below  # a line alone is kept as it was read


def test_one_confusion_table_for_every_kind_of_print() -> None:
    assert "0125".translate(confusions.letter_translation("certificate")) == "OIZS"
    assert "OlB".translate(confusions.digit_translation("card")) == "018"
    # the MRZ's OCR-B face: T is a 1 there, a 7 in certificate print
    assert confusions.as_digit("mrz")["T"] == "1" and confusions.as_digit("certificate")["T"] == "7"
    assert "T" not in confusions.as_digit("card")


def test_evidence_of_two_texts_combines_like_the_texts_read_together() -> None:
    both = text_evidence(CMND_BACK).combined(text_evidence("GIÁM ĐỐC CÔNG AN TỈNH THỪA THIÊN HUẾ"))
    together = text_evidence(CMND_BACK + "\nGIÁM ĐỐC CÔNG AN TỈNH THỪA THIÊN HUẾ")
    assert decide(both) == decide(together)
    assert decide(both).doc_type == "cmnd_back" == classify(CMND_BACK + "\nGIÁM ĐỐC CÔNG AN").doc_type


def _page_with_qr(payload: str) -> NormalisedPage:
    buf = io.BytesIO()
    segno.make(payload, micro=False).save(buf, kind="png", scale=6, border=4)
    qr = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    page = np.full((1600, 1200), 255, np.uint8)
    page[40 : 40 + qr.shape[0], 40 : 40 + qr.shape[1]] = qr
    colour = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    return NormalisedPage(source="t.png", page=1, sha256="0", kind="page", image=colour, ocr_image=page)


def test_a_page_is_decoded_once_and_its_corner_read_from_that() -> None:
    scan = PageScan(_page_with_qr("AB12CD34EF56|AA 12345678"), reader=TesseractReader(), layout=TextPage(), grey=np.zeros((1, 1)))
    assert not scan.codes_decoded
    codes = scan.codes()
    assert scan.codes() is codes and [c.format for c in codes] == ["QRCode"]
    # the corner the 2024 form prints its QR in comes from the page's codes, not a second decoding
    assert scan.qr_codes_in(right=0.5, bottom=0.25) == codes
    assert scan.qr_codes_in(right=0.01, bottom=0.01) == []


def test_a_corner_is_decoded_on_its_own_before_the_page_is() -> None:
    scan = PageScan(_page_with_qr("AB12CD34EF56|AA 12345678"), reader=TesseractReader(), layout=TextPage(), grey=np.zeros((1, 1)))
    corner = scan.qr_codes_in(right=0.5, bottom=0.25)
    assert [c.text for c in corner] == ["AB12CD34EF56|AA 12345678"] and not scan.codes_decoded
    assert scan.qr_codes_in(right=0.5, bottom=0.25) is corner


def test_the_registry_names_one_extractor_per_document_type() -> None:
    assert isinstance(extractor_for("cccd_front"), IdCardExtractor)
    assert isinstance(extractor_for("gcn_page2"), CertificateExtractor)
    assert extractor_for("unknown") is None
    types = [t for e in EXTRACTORS for t in e.doc_types]
    assert len(types) == len(set(types))
    assert classify(GCN_PAGE2).doc_type in CertificateExtractor.doc_types


def test_field_names_are_the_json_contract_names() -> None:
    assert (F.ID_NUMBER, F.FULL_NAME, F.CERTIFICATE_SERIAL, F.OWNER_BIRTH_YEAR) == (
        "id_number",
        "full_name",
        "certificate_serial",
        "birth_year",
    )
    assert len(set(F.CARD_FIELDS)) == len(F.CARD_FIELDS) and len(set(F.CERTIFICATE_FIELDS)) == len(F.CERTIFICATE_FIELDS)


class _Numbering(Reader):
    """An engine that answers each call with its number (to see which calls reach it)."""

    lang = "vie"

    def __init__(self) -> None:
        self.calls = 0

    def read_page(self, image: np.ndarray, options: ReadOptions) -> TextPage:
        self.calls += 1
        return TextPage()

    def read_characters(self, image: np.ndarray, options: ReadOptions) -> Line:
        self.calls += 1
        return Line(text=str(self.calls), confidence=1.0)

    def orientation(self, image: np.ndarray) -> tuple[int, float] | None:
        return None


def test_a_page_reads_the_same_region_the_same_way_once() -> None:
    engine = _Numbering()
    scan = PageScan(_page_with_qr("x"), reader=engine, layout=TextPage(), grey=np.zeros((1, 1)))
    crop = np.full((30, 200), 200, np.uint8)
    first = scan.reader.read_line(crop, psm=7)
    assert scan.reader.read_line(crop.copy(), psm=7) is first and engine.calls == 1
    assert scan.reader.read_line(crop, psm=13).text == "2"  # read another way: read again
    crop[0, 0] = 0
    assert scan.reader.read_line(crop, psm=7).text == "3"  # other pixels: read again
