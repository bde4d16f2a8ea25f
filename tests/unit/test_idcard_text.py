"""The text-level pieces of ID-card extraction: name lexicon, place names, classification, confidence maths."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models import fields as F
from models.elements import Line, Word
from worker.extract import confidence as conf
from worker.extract.classify import classify
from worker.extract.confidence import LogisticModel
from worker.extract.idcard import evidence
from worker.extract.idcard.evidence import Features, Reading
from worker.extract.idcard.labels import label_kind, right_of
from worker.extract.idcard.numbers import date_in, id_reading
from worker.extract.idcard.regions import GUESSED, letters_mapped
from worker.extract.idcard.text import clean_name, clean_value, fix_address
from worker.extract.idcard.vote import add_consensus, cross_check_years, vote
from worker.extract.lexicon import correct_name, correct_word, known
from worker.extract.places import correct as correct_place
from worker.vntext import name_key


def _choices(word: str, alternatives: dict[int, str] | None = None) -> list[list[tuple[str, float]]]:
    """Per-character recogniser output: the letter read at 0.99, plus alternatives the way LSTM ranks them."""
    alternatives = alternatives or {}
    return [[(ch, 0.99), *((a, 0.0) for a in alternatives.get(i, ""))] for i, ch in enumerate(word)]


def test_lost_tone_on_the_commonest_surname_is_restored() -> None:
    text, p, changed = correct_word("NGUYÊN", _choices("NGUYÊN", {4: "ỄẾ"}), "surname")
    assert (text, changed) == ("NGUYỄN", True) and p > 0.9


def test_a_real_given_name_is_not_overwritten() -> None:
    # Nguyên is a given name in its own right: as a given name the reading stands
    assert correct_word("NGUYÊN", _choices("NGUYÊN"), "given")[0] == "NGUYÊN"


def test_swapped_tone_marks_in_a_full_name() -> None:
    name, probs, changes = correct_name(["TRÂN", "THI", "HỎNG"])
    assert name == "TRẦN THỊ HỒNG" and changes == 3 and all(p > 0.5 for p in probs)


def test_unknown_syllables_are_kept_as_read() -> None:
    name, probs, changes = correct_name(["KPĂNG", "VĂN", "XYZ"])
    assert name == "KPĂNG VĂN XYZ" and changes == 0 and probs[0] == 0.0


def test_letters_are_never_changed_only_diacritics() -> None:
    rng = random.Random(3)
    for _ in range(200):
        word = "".join(rng.choice("ANHGUYETRI") for _ in range(rng.randint(2, 6)))
        out, _, _ = correct_word(word, None, rng.choice(("surname", "middle", "given")))
        assert name_key(out) == name_key(word)


def test_tone_placement_is_normalised() -> None:
    assert correct_word("HOÀ", None, "given")[0] == "HÒA"
    assert known("Hòa") and known("Nguyễn", "surname") and not known("Nguyễn", "given")


@pytest.mark.parametrize(
    ("read", "want"),
    [
        ("Xã Hải Thượng, Huyện Hải Lăng, Quảng Tri", "Xã Hải Thượng, Huyện Hải Lăng, Quảng Trị"),
        ("Phường Phú Nhuận, TP. Huế, Thừa Thiêền- Huế", "Phường Phú Nhuận, TP. Huế, Thừa Thiên Huế"),
        ("phuờng Đông Ba, TP. Huê", "Phường Đông Ba, TP. Huế"),
        ("Thôn Văn Xá, Xa Phú Dương", "Thôn Văn Xá, Xã Phú Dương"),  # Xá is a name here, Xa a misread
        ("Xã Quảng Thành, Huyện Quảng Điền", "Xã Quảng Thành, Huyện Quảng Điền"),  # no fuzzy over known words
        ("12 Kiệt 5 Đường Lạ Hoắc", "12 Kiệt 5 Đường Lạ Hoắc"),
        # a village whose letters are a ward's keeps its reading; a near name does not pull another over
        ("Thôn Thủy Phú, Xã Thủy Thanh", "Thôn Thủy Phú, Xã Thủy Thanh"),
        ("Thôn Thanh Thủy Chánh, Phường Đúc", "Thôn Thanh Thủy Chánh, Phường Đúc"),
    ],
)
def test_place_names(read: str, want: str) -> None:
    assert correct_place(read) == want


@pytest.mark.parametrize(
    ("text", "kw", "doc_type", "generation"),
    [
        (
            "CĂN CƯỚC CÔNG DÂN\nCitizen Identity Card\nSố / No.: 046090012345\nHọ và tên / Full name:",
            {"has_qr": True},
            "cccd_front",
            "cccd_chip_2021",
        ),
        ("CĂN CƯỚC CÔNG DÂN\nSố: 046090012345\nHọ và tên:\nNơi thường trú:", {}, "cccd_front", "cccd_barcode_2016"),
        (
            "CĂN CƯỚC\nIDENTITY CARD\nSố định danh cá nhân/Personal identification number:",
            {},
            "cccd_front",
            "cancuoc_2024",
        ),
        (
            "GIẤY CHỨNG MINH NHÂN DÂN\nSỐ 191234567\nHọ tên\nSinh ngày\nNguyên quán\nNơi ĐKHK thường trú",
            {},
            "cmnd_front",
            "cmnd_9",
        ),
        (
            "CHỨNG MINH NHÂN DÂN\nSố: 046090012345\nHọ và tên:\nGiới tính: Nam Dân tộc: Kinh",
            {},
            "cmnd_front",
            "cmnd_12",
        ),
        (
            "Đặc điểm nhân dạng / Personal identification:\nNgày, tháng, năm / Date, month, year:",
            {"has_mrz": True},
            "cccd_back",
            "cccd_chip_2021",
        ),
        (
            "Nơi cư trú/Place of residence:\nNơi đăng ký khai sinh/Place of birth:\nDate of issue",
            {"has_qr": True},
            "cccd_back",
            "cancuoc_2024",
        ),
        (
            "Ngón trỏ trái\nĐặc điểm nhân dạng:\nCỤC TRƯỞNG CỤC CẢNH SÁT",
            {"has_barcode": True},
            "cccd_back",
            "cccd_barcode_2016",
        ),
        (
            "Đặc điểm nhân dạng:\nNgày 24 tháng 02 năm 2015\nGIÁM ĐỐC\nCÔNG AN TỈNH THỪA THIÊN HUẾ",
            {},
            "cmnd_back",
            "cmnd_12",
        ),
        ("Dân tộc: Kinh Tôn giáo: Không\nDẤU VẾT RIÊNG VÀ DỊ HÌNH\nGIÁM ĐỐC CA TỈNH", {}, "cmnd_back", "cmnd_9"),
        ("GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT\nI. Người sử dụng đất", {}, "gcn_page1", None),
        ("nothing to see", {}, "unknown", None),
        # a faint 2024 back: the small grey labels are lost, the QR decoded
        ("sợ CÔNG AN\nnám bết hạn/Date otexpuy. 30/05/2032", {"has_qr": True}, "cccd_back", "cancuoc_2024"),
        ("Ngày, tháng, năm hết hạn/Date of xp+y 13/04/2035\nBỘ CÔNG AN", {}, "cccd_back", "cancuoc_2024"),
        ("nothing to see", {"has_qr": True, "is_card": False}, "unknown", None),
    ],
)
def test_classify(text: str, kw: dict, doc_type: str, generation: str | None) -> None:
    c = classify(text, **kw)
    assert (c.doc_type, c.generation) == (doc_type, generation)
    assert 0.0 <= c.confidence <= 1.0


def test_classify_tolerates_ocr_garble() -> None:
    assert classify("CĂN CƯỚC CÔNG DẦN\nCitizen 1dentity-Card", has_qr=True).doc_type == "cccd_front"


def test_ece_and_reliability() -> None:
    assert conf.expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert conf.expected_calibration_error([0.9] * 10, [True] * 5 + [False] * 5) == pytest.approx(0.4)
    rows = conf.reliability_table([0.05, 0.95, 0.95], [False, True, False], bins=2)
    assert rows[0][2:] == (1, 0.0) and rows[1][2:] == (2, 0.5)


def test_fitted_model_is_calibrated_on_held_out_data(tmp_path) -> None:
    rng = np.random.default_rng(5)

    def sample(n: int) -> list[tuple[Features, bool]]:
        out = []
        for _ in range(n):
            c = float(rng.uniform(0.5, 1.0))
            agree = int(rng.integers(1, 3))
            p_true = 1 / (1 + np.exp(-(-8 + 6 * c + 1.5 * agree)))
            f = Features(field=F.DATE_OF_BIRTH, sources=["ocr", "layout"][:agree], char_conf=c, min_char_conf=c)
            out.append((f, bool(rng.random() < p_true)))
        return out

    model = LogisticModel(tmp_path / "model.json", evidence.FEATURE_NAMES, evidence.MODEL.defaults, bounds=(0.001, 0.999))
    evidence.fit(sample(3000), version="test", model=model)
    held = sample(3000)
    probs = [model.probability(f.family, f.vector()) for f, _ in held]
    assert conf.expected_calibration_error(probs, [ok for _, ok in held]) < 0.03
    assert model.version == "test"
    # a model stored for other features is not used: the hand-set weights apply
    other = LogisticModel(tmp_path / "model.json", ("bias",), {"other": (0.0,)}, bounds=(0.01, 0.99))
    assert other.probability("date", [1.0]) == 0.5



@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Sinh ngày Ø3 -06-1993", "1993-06-03"),
        ("27=9B-1977", "1977-08-27"),  # odd separator, B for 8, then 98 repaired to 08 (plausible, not certain)
        ("35-35-1977", None),  # no single tens-digit confusion makes it a date
        ("03- 40-1955", "1955-10-03"),  # a typewriter 1 read as 4
        ("4955-10-03", None),
        ("15/03/1990", "1990-03-15"),
    ],
)
def test_loose_dates(text: str, want: str | None) -> None:
    d = date_in(text)
    assert (d.isoformat() if d else None) == want


def test_separator_read_as_a_digit() -> None:
    assert date_in("12/1272021").isoformat() == "2021-12-12"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("read", "want"),
    [
        (
            "29 Kiệt 235 Nguyễn Văn Linh, . Phường Phú Hội, ' Thành phố Huế",
            "29 Kiệt 235 Nguyễn Văn Linh, Phường Phú Hội, Thành phố Huế",
        ),
        ("Thôn. Phú Ốc; Hương Long, TP: Huế", "Thôn Phú Ốc, Hương Long, TP. Huế"),
        ("298 Huyền-Trân Công Chúa, P. Phú Hội", "298 Huyền Trân Công Chúa, P. Phú Hội"),
        ("7 Kiệt 142 Nguyễn Trã1, Phường Đông Ba", "7 Kiệt 142 Nguyễn Trãi, Phường Đông Ba"),
        ("242/15 Lịch Đợi ,Hương An", "242/15 Lịch Đợi, Hương An"),
        ("Phường Phú Nhuận, TP, Huế", "Phường Phú Nhuận, TP. Huế"),
        ("12 Lê Lợi, „„Vĩnh Ninh, TP. Huế", "12 Lê Lợi, Vĩnh Ninh, TP. Huế"),  # a second row's specks glued on
        # dot leaders and guilloche where a comma stood: a mark on a digit, a lone stroke, a mark on a word
        ("Phường Hàng Bạc `4 Í _Quận Hoàn Kiếm, Hà Nội", "Phường Hàng Bạc Quận Hoàn Kiếm, Hà Nội"),
        ("Khóm 4 Thị trấn Phong Điền", "Khóm 4 Thị trấn Phong Điền"),  # a hamlet's number has no mark
    ],
)
def test_address_punctuation(read: str, want: str) -> None:
    assert fix_address(read) == want


def _line(text: str, x: int = 300, y: int = 300, h: int = 30, gap: int = 12) -> Line:
    words = []
    for t in text.split():
        w = 18 * len(t)
        words.append(Word(text=t, confidence=0.9, box=(x, y, w, h)))
        x += w + gap
    return Line.of(words)


def test_a_name_in_capitals_is_not_taken_for_a_label() -> None:
    # `NGUYỄN QUANG` folds to the 9-digit CMND's label `Nguyên quán`
    assert label_kind(_line("NGUYỄN QUANG NGỮ")) is None
    assert label_kind(_line("Nguyên quán: Xã Phú Dương")) == "other"
    assert label_kind(_line("DẤU VẾT RIÊNG VÀ DỊ HÌNH")) == "other"


def test_value_words_left_of_a_partly_read_label_are_kept() -> None:
    # the layout pass lost `Họ, chữ` of the label: its box starts right of the name's first word
    label_box = (382, 295, 250, 20)
    value = _line("HUỲNH THỊ NGUYỆT", x=316, y=320)
    assert [w.text for w in right_of(value.words, label_box)] == ["HUỲNH", "THỊ", "NGUYỆT"]
    # a speck of the photo far to the left, across a wide gap, is not
    speck = Word(text="ĐÃ", confidence=0.5, box=(120, 320, 30, 30))
    assert [w.text for w in right_of([speck, *value.words], label_box)] == ["HUỲNH", "THỊ", "NGUYỆT"]


def test_number_readings_that_each_slipped_once_are_outvoted_per_digit() -> None:
    box = (0, 0, 10, 10)
    rs = [
        id_reading("079147329742", "layout", 0.9, 0.8, 12, box),
        id_reading("179147320742", "ocr", 0.96, 0.84, 12, box),
        id_reading("078147329742", "ocr_alt", 0.99, 0.9, 12, box),
    ]
    readings = {F.ID_NUMBER: rs}
    add_consensus(readings, "id_number")
    assert readings["id_number"][-1].source == "vote"
    assert vote(readings["id_number"], "id_number").value == "079147329742"


def test_number_structure_weighs_readings() -> None:
    box = (0, 0, 10, 10)
    assert not id_reading("046790012345", "ocr", 0.9, 0.9, 12, box).valid  # century/sex digit 7
    assert id_reading("179147320742", "ocr", 0.9, 0.9, 12, box).extra["weight"] < 1  # no province 179
    assert id_reading("046090012345", "ocr", 0.9, 0.9, 12, box).extra == {}


def test_a_letter_guessed_as_a_digit_counts_less_in_a_date_vote() -> None:
    # the typewriter 5 read as B (→ 8) by the unrestricted reading, as 5 by the layout pass
    layout = Reading("1991-05-11", "layout", 0.83)
    alt = Reading("1991-08-11", "ocr_alt", 0.98, extra={"weight": GUESSED})
    assert letters_mapped("11-OB-1991")
    assert vote([layout, alt], "date_of_birth").value == "1991-05-11"


def test_birth_year_digits_of_the_number_support_the_matching_readings() -> None:
    readings = {
        "id_number": [Reading("046077121822", "layout", 0.9), Reading("046071121822", "ocr", 0.9)],
        "date_of_birth": [Reading("1977-03-11", "ocr", 0.9)],
    }
    cross_check_years(readings)
    assert vote(readings["id_number"], "id_number").value == "046077121822"


@pytest.mark.parametrize(
    ("read", "want"),
    [
        ("NGUYỄN THANH HĂẰNG", "NGUYỄN THANH HẰNG"),
        ("PHẠM ĐỨC LẦÂM", "PHẠM ĐỨC LẦM"),
        ("NGUYỄN THỊ QUYỲNH", "NGUYỄN THỊ QUỲNH"),
        ("NGUYỄN HỮU QUANG", "NGUYỄN HỮU QUANG"),  # Ư and U are two letters
        ("LƯU THỊ KIỀU", "LƯU THỊ KIỀU"),
    ],
)
def test_a_vowel_read_twice_is_read_once(read: str, want: str) -> None:
    assert clean_name(read) == want


@pytest.mark.parametrize(
    ("name", "read", "want"),
    [
        # the label's garbled end before its colon, taken into the re-read of the value's first row
        ("place_of_residence", "nce: 12/4 Lê Lợi, Phú Hội, TP. Huế", "12/4 Lê Lợi, Phú Hội, TP. Huế"),
        ("place_of_residence", "of residence: Thôn 5, Hương Toàn", "Thôn 5, Hương Toàn"),
        # a colon read for an abbreviation's dot, or after a unit's word, is no label's
        ("place_of_residence", "TP: Huế, Thừa Thiên Huế", "TP. Huế, Thừa Thiên Huế"),
        ("place_of_origin", "Xã: Hương Toàn, Hương Trà, Thừa Thiên Huế", "Xã Hương Toàn, Hương Trà, Thừa Thiên Huế"),
        # the next label's head after the province ends the value; `Nơi` before any province is a name's
        ("place_of_origin", "Hàng Bạc, Hoàn Kiếm, Hà Nội Nơi ĐH", "Hàng Bạc, Hoàn Kiếm, Hà Nội"),
        ("place_of_origin", "Thôn Nơi Xa, Hương Toàn", "Thôn Nơi Xa, Hương Toàn"),
    ],
)
def test_label_words_around_a_place_are_dropped(name: str, read: str, want: str) -> None:
    assert clean_value(name, read) == want
