"""The dispatcher skips its QR/barcode search only where no code could change the page's type, and reads a
page turned half round when its layout pass shows the imaging stage left it upside down. The page reads
are replayed by the recorded reader (tests/plugins/ocr.py)."""

from __future__ import annotations

import cv2
import numpy as np

from bench.imaging_cases import render_page
from models.pages import LoadedPage, NormalisedPage
from worker.extract import read_document, read_page
from worker.extract.classify import Classification, classify
from worker.extract.document import _CODE_EVIDENCE_MAX, _settled_certificate
from worker.imaging import normalise_page
from worker.ocr import Reader

GCN_PAGE1 = """CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
GIẤY CHỨNG NHẬN
QUYỀN SỬ DỤNG ĐẤT, QUYỀN SỞ HỮU NHÀ Ở
VÀ TÀI SẢN KHÁC GẮN LIỀN VỚI ĐẤT
I. Người sử dụng đất, chủ sở hữu nhà ở và tài sản khác gắn liền với đất
Ông: NGUYỄN VĂN TUẤN, sinh năm: 1947
CCCD số: 046047043914
Địa chỉ thường trú: 271/5 Đống Đa, phường An Cựu, thành phố Huế, tỉnh Thừa Thiên Huế
CY 578046"""

CCCD_FRONT = """CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
SOCIALIST REPUBLIC OF VIET NAM
CĂN CƯỚC CÔNG DÂN
Citizen Identity Card
Số/No: 046044295658
Họ và tên / Full name
NGUYỄN ĐỨC HẢI"""


def test_certificate_page_is_settled_by_its_text() -> None:
    c = classify(GCN_PAGE1, is_card=False)
    assert c.doc_type == "gcn_page1"
    assert _settled_certificate(c, is_card=False)
    # and no code could have changed the call: the strongest code evidence on every card type
    for has_qr, has_barcode in ((True, False), (False, True)):
        assert classify(GCN_PAGE1, has_qr=has_qr, has_barcode=has_barcode, is_card=False).doc_type == "gcn_page1"


def test_cards_and_close_calls_still_search_for_codes() -> None:
    card = classify(CCCD_FRONT, is_card=None)
    assert not _settled_certificate(card, is_card=True)
    assert not _settled_certificate(classify(CCCD_FRONT, is_card=False), is_card=False)
    # a certificate-looking text on a card-shaped image is not skipped either
    assert not _settled_certificate(classify(GCN_PAGE1, is_card=None), is_card=True)
    # a certificate call by a margin a code could close is not settled; a wider one is
    thin = Classification("gcn_page1", 0.7, None, {"gcn_page1": 1.0 + _CODE_EVIDENCE_MAX, "cccd_back": 1.0})
    wide = Classification("gcn_page1", 0.9, None, {"gcn_page1": 4.0 + _CODE_EVIDENCE_MAX, "cccd_back": 1.0})
    assert not _settled_certificate(thin, is_card=False)
    assert _settled_certificate(wide, is_card=False)


def _upright_certificate_page(reader: Reader) -> NormalisedPage:
    image = cv2.resize(render_page(11), None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    (page,) = normalise_page(LoadedPage(source="t.jpg", page=1, sha256="0" * 64, image=image), reader=reader)
    assert page.orientation_deg == 0
    return page


def test_a_page_the_imaging_stage_left_upside_down_is_read_turned_half_round(recorded_reader: Reader) -> None:
    upright = _upright_certificate_page(recorded_reader)
    wrong = upright.model_copy(
        update={
            "image": np.ascontiguousarray(upright.image[::-1, ::-1]),
            "ocr_image": np.ascontiguousarray(upright.ocr_image[::-1, ::-1]),
            "orientation_confidence": 0.9,
        }
    )
    doc, read = read_page(wrong, reader=recorded_reader)
    assert doc.orientation_deg == 180 and "orientation:ocr" in doc.warnings
    assert read.orientation_deg == 180
    assert np.array_equal(read.image, upright.image)  # the review page shows it the right way up
    assert doc.doc_type == read_document(upright, reader=recorded_reader).doc_type != "unknown"


def test_an_upright_page_is_read_once_as_it_is(recorded_reader: Reader) -> None:
    upright = _upright_certificate_page(recorded_reader)
    doc, read = read_page(upright, reader=recorded_reader)
    assert read is upright and doc.orientation_deg == 0 and "orientation:ocr" not in doc.warnings
