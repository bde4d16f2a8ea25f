"""Values a second reading does not back are held for review (issue 16: never confidently wrong). Each case
is one `bench gcn --world --n 120 --seed 1023` gave wrong at 0.96-0.99; the layout pass is written out and
the re-reads are scripted, no engine runs."""

from __future__ import annotations

import numpy as np
from plugins.ocr import ScriptedReader

from models.elements import Line, TextPage, Word
from worker.extract.gcn.evidence import Evidence, confidence_of
from worker.extract.gcn.images import PageImages
from worker.extract.gcn.owners import _owner_id_number
from worker.extract.gcn.parcel import read_parcel
from worker.extract.gcn.patterns import OWNER_ID
from worker.extract.gcn.signature import read_signature_block
from worker.extract.gcn.text import PageText

H, W = 2000, 1400


def _text(*lines: str, x: int = 100) -> PageText:
    rows = []
    for k, line in enumerate(lines):
        words = [Word(text=t, confidence=0.97, box=(x + 90 * i, 100 + 60 * k, 80, 40)) for i, t in enumerate(line.split())]
        rows.append(Line.of(words))
    return PageText.of(TextPage.of_lines(rows))


def _images(rereads: list[str]) -> PageImages:
    return PageImages(None, np.full((H, W), 255, np.uint8), 1.0, 1.0, ScriptedReader(rereads))


def _owner_id(rereads: list[str]) -> Evidence:
    t = _text("CCCD số: 046143627096")
    m = OWNER_ID.search(t.fold)
    assert m is not None
    return _owner_id_number(t, _images(rereads), m)


def test_an_owner_id_its_own_region_gave_no_digits_for_is_held() -> None:
    # a glared phone photo: the layout pass read one digit wrong, the re-read of its region found nothing
    ev = _owner_id([""])
    assert ev.value == "046143627096"
    assert ev.doubtful and confidence_of(ev) < 0.9


def test_an_owner_id_read_the_same_twice_is_not_held() -> None:
    ev = _owner_id(["046143627096"])
    assert (ev.agree, ev.doubtful) == (1, False)


def _purpose(line: str) -> dict[str, Evidence]:
    fields: dict[str, Evidence] = {}
    read_parcel(_text("Diện tích: 145,7 m²", line, "Thời hạn sử dụng: Lâu dài"), _images([]), "gcn_2024_qr", fields, [])
    return fields


def test_a_2024_purpose_read_without_its_area_is_held() -> None:
    # the 2024 form prints each purpose with its area; the area lost, the sum check cannot vouch for it
    held = _purpose("Mục đích sử dụng: Đất ở tại đô thị (ODT)")["land_use_purpose"]
    assert held.value == "Đất ở tại đô thị (ODT)"
    assert held.doubtful and confidence_of(held) < 0.9
    whole = _purpose("Mục đích sử dụng: Đất ở tại đô thị (ODT): 145,7 m²")["land_use_purpose"]
    assert not whole.doubtful and whole.check == 1


def test_two_readings_naming_two_issuing_bodies_hold_the_body() -> None:
    # a photocopy: the layout pass and the red-channel re-read snapped to a province's department and a city's
    t = _text(
        "Huế, ngày 13 tháng 01 năm 2025",
        "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG",
        "TỈNH THỪA THIÊN HUẾ",
        x=700,
    )
    fields: dict[str, Evidence] = {}
    read_signature_block(t, _images(["SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG THÀNH PHỐ HUẾ"]), fields, [])
    body = fields["issuing_authority"]
    assert body.disagree == 1 and body.doubtful
    assert confidence_of(body) < 0.9
