"""The dispatcher skips its QR/barcode search only where no code could change the page's type."""

from __future__ import annotations

from worker.extract.classify import Classification, classify
from worker.extract.document import _CODE_EVIDENCE_MAX, _settled_certificate

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
