"""QR decoding (zxing-cpp, OpenCV fallback) and the CCCD QR payload parser."""

from __future__ import annotations

import io
from datetime import date
from unittest import mock

import cv2
import numpy as np
import segno
from PIL import Image

from worker.ocr import codes
from worker.ocr.codes import decode_codes, parse_cccd_qr, read_cccd_qr

PAYLOAD = "046090012345|191234567|NGUYỄN VĂN AN|15031990|Nam|Phường Vĩnh Ninh, TP. Huế, Thừa Thiên Huế|01062021"


def _qr_card(payload: str, *, scale: int = 3, blur: int = 0) -> np.ndarray:
    buf = io.BytesIO()
    segno.make(payload, error="m").save(buf, kind="png", scale=scale, border=2)
    qr = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    card = np.full((638, 1012, 3), 225, np.uint8)
    h, w = qr.shape
    card[40 : 40 + h, 1012 - 40 - w : 1012 - 40] = qr[:, :, None]
    if blur:
        card = cv2.GaussianBlur(card, (blur, blur), 0)
    return card


def test_parse_seven_fields() -> None:
    q = parse_cccd_qr(PAYLOAD)
    assert q is not None
    assert q.id_number == "046090012345"
    assert q.old_id_number == "191234567"
    assert q.full_name == "NGUYỄN VĂN AN"
    assert q.date_of_birth == date(1990, 3, 15)
    assert q.sex == "male"
    assert q.place_of_residence.startswith("Phường Vĩnh Ninh")
    assert q.issue_date == date(2021, 6, 1)


def test_parse_without_old_number_and_female() -> None:
    q = parse_cccd_qr("046185004321||LÊ THỊ HƯƠNG|04071985|Nữ|Xã Phú Mậu, Phú Vang|12052022")
    assert q is not None and q.old_id_number is None and q.sex == "female"
    q6 = parse_cccd_qr("046185004321|LÊ THỊ HƯƠNG|04071985|Nữ|Xã Phú Mậu, Phú Vang|12052022")
    assert q6 is not None and q6.full_name == "LÊ THỊ HƯƠNG" and q6.old_id_number is None


def test_parse_normalises_tone_placement() -> None:
    q = parse_cccd_qr("046185004321||TRẦN THỊ HOÀ|04071985|Nữ|Huế|12052022")
    assert q is not None and q.full_name == "TRẦN THỊ HÒA"


def test_parse_rejects_foreign_payloads() -> None:
    for text in (
        "https://example.org/x",
        "04609001234|191234567|A|15031990|Nam|Huế|01062021",  # 11 digits
        "046090012345|191234567|A|31021990|Nam|Huế|01062021",  # 31 February
        "046090012345|12ab|A|15031990|Nam|Huế|01062021",
    ):
        assert parse_cccd_qr(text) is None, text


def test_decode_qr_on_a_card() -> None:
    found = read_cccd_qr(_qr_card(PAYLOAD))
    assert found is not None
    q, code = found
    assert q.raw == PAYLOAD
    x, y, w, h = code.box
    assert x > 1012 / 2 and y < 638 / 2 and w > 50 and h > 50  # top right, where the chip card has it


def test_decode_small_blurred_qr_needs_the_upscale() -> None:
    found = read_cccd_qr(_qr_card(PAYLOAD, scale=2, blur=3))
    assert found is not None and found[0].id_number == "046090012345"


def test_quick_pass_finds_upright_codes_and_skips_the_retries() -> None:
    calls: list[bool] = []
    real = codes._zxing

    def counted(grey: np.ndarray, *, qr_only: bool, thorough: bool) -> list[codes.DecodedCode]:
        calls.append(thorough)
        return real(grey, qr_only=qr_only, thorough=thorough)

    with mock.patch.object(codes, "_zxing", side_effect=counted):
        assert [c.text for c in decode_codes(_qr_card(PAYLOAD))] == [PAYLOAD]
        assert decode_codes(np.full((638, 1012), 200, np.uint8)) == []
    assert calls == [False, False]


def test_thorough_pass_reads_a_code_upside_down() -> None:
    card = _qr_card(PAYLOAD)[::-1, ::-1].copy()
    assert [c.text for c in decode_codes(card, thorough=True)] == [PAYLOAD]


def test_no_code_on_a_plain_image() -> None:
    assert decode_codes(np.full((638, 1012), 200, np.uint8), thorough=True) == []
    assert read_cccd_qr(np.full((638, 1012), 200, np.uint8)) is None
