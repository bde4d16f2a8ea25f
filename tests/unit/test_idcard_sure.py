"""ID cards are never confidently wrong (issues 15/16): a name whose first words were lost at the left, an
issuer snapped to a title its card cannot carry, a commune respelled to its district's neighbour, a
generation guessed without evidence. Scripted readers stand in for Tesseract."""

from __future__ import annotations

import numpy as np

from models import fields as F
from models.elements import Line, TextPage, Word
from tests.plugins.ocr import ScriptedReader
from worker.extract.classify import GENERATION_GUESS, classify
from worker.extract.gazetteer import respell
from worker.extract.idcard.evidence import START_LOST, Features, score
from worker.extract.idcard.issuer import snap_issuer
from worker.extract.idcard.text import fix_address, read_text_field
from worker.extract.places import correct as correct_place


def _line(*words: tuple[str, int], y: int = 240, h: int = 24) -> Line:
    """A layout line of words, each at its x, 12 px a letter wide."""
    return Line.of([Word(text=t, confidence=0.95, box=(x, y, 12 * len(t), h)) for t, x in words])


def _name(lines: list[Line], answers: list[str]) -> list:
    img = np.full((640, 1012), 255, np.uint8)
    readings, _ = read_text_field(ScriptedReader(answers), img, TextPage.of_lines(lines), F.FULL_NAME, choices=True)
    return readings


def test_a_capital_the_label_swallowed_marks_the_name_as_cut_at_its_start() -> None:
    # `Họ và tên: NGUYỄN TÔN NỮ ...` read `Họ và t ỄN TÔN NỮ ...`: the label's match took the garbled surname
    line = _line(
        ("Họ", 300), ("và", 340), ("t", 380), ("ỄN", 400), ("TÔN", 440), ("NỮ", 490), ("THỊ", 530), ("HOA", 580)
    )
    readings = _name([line], ["TÔN NỮ THỊ HOA"] * 6)
    assert readings and all(r.extra.get(START_LOST) for r in readings)


def test_a_whole_name_after_its_label_is_not_marked() -> None:
    line = _line(("Họ", 300), ("và", 340), ("tên:", 380), ("TRẦN", 440), ("VĂN", 500), ("AN", 560))
    readings = _name([line], ["TRẦN VĂN AN"] * 6)
    assert readings and not any(r.extra.get(START_LOST) for r in readings)


def test_a_name_found_without_its_label_after_a_capital_fragment_is_marked() -> None:
    number = _line(("046067861015", 400), y=150)
    name = _line(("À(", 300), ("/ÁN", 480), ("BÌNH", 540), y=260)
    readings = _name([number, name], ["ÁN BÌNH"] * 6)
    assert readings and all(r.extra.get(START_LOST) for r in readings)


def test_a_name_under_the_end_of_its_label_is_marked() -> None:
    # the 2024 card cut at its left edge: `Họ, chữ đệm và tên khai sinh / Full name` read from `tên khai sinh`
    number = _line(("385342479", 400), y=60)
    label = _line(("ten", 330), ("khai", 380), ("sinh", 440), ("⁄", 500), ("Full", 520), ("name", 580), y=140, h=20)
    name = _line(("PHÚC", 340), ("HỮU", 410), ("THIÊN", 470), ("LONG", 550), y=175)
    readings = _name([number, label, name], ["PHÚC HỮU THIÊN LONG"] * 6)
    assert readings and all(r.extra.get(START_LOST) for r in readings)
    whole = _line(
        ("Họ,", 200), ("chữ", 250), ("đệm", 300), ("và", 350), ("tên", 380), ("khai", 420), ("sinh", 470), y=140
    )
    readings = _name([number, whole, name], ["PHÚC HỮU THIÊN LONG"] * 6)
    assert readings and not any(r.extra.get(START_LOST) for r in readings)


def test_a_name_cut_at_its_start_is_never_given_as_sure() -> None:
    f = Features(F.FULL_NAME, sources=["layout", "ocr", "lexicon"], char_conf=0.99, min_char_conf=0.96)
    f.lexicon_posterior, f.exact_reads = 0.99, 2
    assert score(f) >= 0.9
    f.start_lost = True
    assert score(f) < 0.9


def test_a_generation_no_evidence_names_is_a_guess() -> None:
    # a CCCD front whose English title and QR were lost: the chip card as likely as the barcode card
    c = classify("CĂN CƯỚC CÔNG DÂN\nHọ và tên\nQuốc tịch: Việt Nam\nNơi thường trú")
    assert c.doc_type == "cccd_front" and c.generation_confidence == GENERATION_GUESS
    sure = classify("CĂN CƯỚC CÔNG DÂN CITIZEN IDENTITY CARD\nHọ và tên\nQuốc tịch\nNơi thường trú", has_qr=True)
    assert sure.generation == "cccd_chip_2021" and sure.generation_confidence >= 0.9


def test_one_weak_keyword_does_not_make_a_generation_sure() -> None:
    c = classify("ĐẶC ĐIỂM NHẬN DẠNG\nNgón trỏ trái\nGIÁM ĐỐC")
    assert c.doc_type == "cmnd_back" and c.generation == "cmnd_12" and c.generation_confidence < 0.9


def test_an_issuer_is_snapped_only_to_the_titles_its_card_carries() -> None:
    # `BỘ CÔNG AN` lies inside `... ĐỐC CÔNG AN TỈNH`: a CMND is signed by the provincial director
    assert snap_issuer("ĐỐC CÔNG AN TỈNH")[0] == "BỘ CÔNG AN"
    assert snap_issuer("ĐỐC CÔNG AN TỈNH", "cmnd_12")[0] != "BỘ CÔNG AN"
    assert snap_issuer("GIAM ĐÓC CÔNG AN TÍNH THỮA THIÊN HUẺ", "cmnd_12")[0] == "GIÁM ĐỐC CÔNG AN TỈNH THỪA THIÊN HUẾ"
    assert snap_issuer("BỘ CÔNG AN", "cancuoc_2024")[0] == "BỘ CÔNG AN"


def test_a_commune_of_another_district_is_not_respelled_to_this_ones() -> None:
    # Quảng Hòa is an official commune of the province (another district today): kept as read
    assert respell("Xã Quảng Hòa, Huyện Quảng Trạch, Quảng Bình").startswith("Xã Quảng Hòa,")
    # a reading one letter off that names no commune is still respelled to the district's one
    assert respell("Xã Quảng Hơp, Huyện Quảng Trạch, Quảng Bình").startswith("Xã Quảng Hợp,")


def test_a_city_abbreviation_gets_its_lost_dot_back() -> None:
    assert fix_address("Phường Phước Vĩnh, TP Huế, Thừa Thiên Huế") == "Phường Phước Vĩnh, TP. Huế, Thừa Thiên Huế"
    assert fix_address("ATP Huế") == "ATP Huế"


def test_a_street_named_like_a_city_keeps_its_spelling() -> None:
    # `Huế` is a one-word place name: it respells a part's name (`TP. Huê`), never a street's (`Nguyễn Huệ`)
    assert correct_place("288/14 Nguyễn Huệ, Gia Hội, TP. Huế, Thừa Thiên Huế").startswith("288/14 Nguyễn Huệ,")
    assert correct_place("12 Lê Lợi, TP. Huê, Thừa Thiên Huế") == "12 Lê Lợi, TP. Huế, Thừa Thiên Huế"
