"""The text-level pieces of ID-card extraction: name lexicon, place names, classification, confidence maths."""

from __future__ import annotations

import random

import numpy as np
import pytest

from worker.extract import confidence as conf
from worker.extract.classify import classify
from worker.extract.lexicon import correct_name, correct_word, known
from worker.extract.places import correct as correct_place


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
        from worker.vntext import name_key

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


def test_fitted_model_is_calibrated_on_held_out_data(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(5)

    def sample(n: int) -> list[tuple[conf.Features, bool]]:
        out = []
        for _ in range(n):
            c = float(rng.uniform(0.5, 1.0))
            agree = int(rng.integers(1, 3))
            p_true = 1 / (1 + np.exp(-(-8 + 6 * c + 1.5 * agree)))
            f = conf.Features(field="date_of_birth", sources=["ocr", "layout"][:agree], char_conf=c, min_char_conf=c)
            out.append((f, bool(rng.random() < p_true)))
        return out

    monkeypatch.setattr(conf, "MODEL_PATH", tmp_path / "model.json")
    conf._model.cache_clear()
    conf.fit(sample(3000), version="test", path=tmp_path / "model.json")
    held = sample(3000)
    probs = [conf.score(f) for f, _ in held]
    assert conf.expected_calibration_error(probs, [ok for _, ok in held]) < 0.03
    assert conf.model_version() == "test"
    conf._model.cache_clear()


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
    from worker.extract.idcard import _date_in

    d = _date_in(text)
    assert (d.isoformat() if d else None) == want


def test_separator_read_as_a_digit() -> None:
    from worker.extract.idcard import _date_in

    assert _date_in("12/1272021").isoformat() == "2021-12-12"  # type: ignore[union-attr]


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
    ],
)
def test_address_punctuation(read: str, want: str) -> None:
    from worker.extract.idcard import _fix_address

    assert _fix_address(read) == want
