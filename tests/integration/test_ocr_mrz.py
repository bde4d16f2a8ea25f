"""TD1 MRZ: ICAO check digits, parsing, OCR-confusion repair, and reading a rendered zone with Tesseract."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fixtures.fonts import font
from worker.ocr.mrz import check_digit, find_td1_lines, parse_td1, read_mrz
from worker.ocr.reader import TesseractReader

READER = TesseractReader()

# synthetic example from domain.md (not a real person)
GOOD = ["IDVNM0900123450046090012345<<8", "9003152M3003150VNM<<<<<<<<<<<0", "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<"]


def _td1(number12: str, dob: str, sex: str, exp: str, name: str) -> list[str]:
    """Compose a TD1 the way the ICAO rules say, independently of the code under test."""

    def cd(s: str) -> str:
        vals = [int(c) if c.isdigit() else (0 if c == "<" else ord(c) - 55) for c in s]
        return str(sum(v * (7, 3, 1)[i % 3] for i, v in enumerate(vals)) % 10)

    l1 = f"IDVNM{number12[3:]}{cd(number12[3:])}{number12}<<{cd(number12)}"
    exp_cd = cd(exp) if exp != "<<<<<<" else "<"
    l2 = f"{dob}{cd(dob)}{sex}{exp}{exp_cd}VNM".ljust(29, "<")
    l2 += cd(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    return [l1, l2, name.ljust(30, "<")]


@pytest.mark.parametrize(
    ("data", "digit"),
    [("520727", "3"), ("L898902C3", "6"), ("740812", "2"), ("120415", "9"), ("046090012345", "8"), ("<<<<<<", "0")],
)
def test_check_digit_known_values(data: str, digit: str) -> None:
    # the first four are the ICAO 9303 specimen values
    assert check_digit(data) == digit


def test_check_digit_detects_every_single_substitution() -> None:
    base = "046090012345"
    good = check_digit(base)
    for i in range(len(base)):
        for d in "0123456789":
            if d != base[i]:
                assert check_digit(base[:i] + d + base[i + 1 :]) != good


def test_parse_domain_example() -> None:
    r = parse_td1(GOOD)
    assert r.valid, r.checks
    assert r.id_number == "046090012345"
    assert r.document_number == "090012345"
    assert r.birth_date == date(1990, 3, 15)
    assert r.expiry_date == date(2030, 3, 15)
    assert r.sex == "male"
    assert (r.surname, r.given_names, r.full_name) == ("NGUYEN", "VAN AN", "NGUYEN VAN AN")
    assert r.lines == GOOD


def test_independent_composition_round_trips() -> None:
    rng = random.Random(7)
    for _ in range(50):
        year = rng.randint(1940, 2006)
        sex = rng.choice("MF")
        g = (year // 100 - 19) * 2 + (1 if sex == "F" else 0)
        number = f"046{g}{year % 100:02d}{rng.randint(0, 999999):06d}"
        dob = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        exp = "<<<<<<" if year < 1960 else f"{(year + 60) % 100:02d}{dob[2:]}"
        lines = _td1(number, dob, sex, exp, "TRAN<<THI<HONG<NHUNG")
        r = parse_td1(lines, today=date(2025, 6, 1))
        assert r.valid, (lines, r.checks)
        assert r.id_number == number
        assert r.sex == ("male" if sex == "M" else "female")
        assert r.birth_date is not None and r.birth_date.year == year
        assert (r.expiry_date is None) == (exp == "<<<<<<")


def test_letter_digit_confusions_are_repaired_by_position() -> None:
    ocr = [
        "1DVNM09OO12345OO46O9OO12345<<8",  # O for 0 and 1 for I
        "9OO3152M3OO315OVNM<<<<<<<<<<<O",
        "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<".replace("A", "4", 1),  # 4 for A in the name
    ]
    r = parse_td1(ocr)
    assert r.valid, r.checks
    assert r.lines == GOOD


def test_single_digit_misread_repaired_when_unambiguous() -> None:
    bad = list(GOOD)
    bad[1] = "9008152" + bad[1][7:]  # 3 read as 8 in the birth date: the check digit pins it down
    r = parse_td1(bad)
    assert r.birth_date == date(1990, 3, 15)
    assert r.checks["birth_date"]
    assert any("birth_date" in x for x in r.repairs)


def test_wrong_check_digit_is_reported_not_hidden() -> None:
    bad = list(GOOD)
    bad[0] = GOOD[0][:29] + "2"  # the 12-digit number's check digit says 2, not 8; 2 is no shape neighbour of 8
    r = parse_td1(bad)
    assert not r.valid
    assert r.checks["personal_number"] is False


def test_a_check_digit_read_as_a_filler_is_given_back_when_the_composite_confirms_it() -> None:
    """A real chip back: the 12-digit number's check digit, last on line 1 after `<<`, read as one more `<`;
    the number's check failed, and with it the zone, so the number was missing. The composite check covers
    that digit: the one digit the data gives is taken when the composite then passes, and only then."""
    lines = _td1("046189938545", "891215", "F", "291215", "NGUYEN<<THI<MAI")
    filler = [lines[0][:29] + "<", lines[1], lines[2]]
    r = parse_td1(filler, today=date(2025, 6, 1))
    assert r.valid, r.checks
    assert r.lines[0] == lines[0] and r.id_number == "046189938545"
    assert any("personal_number" in x for x in r.repairs)
    # a digit of the number misread as well: the composite no longer confirms the check digit given back
    twice = [filler[0][:20] + ("1" if filler[0][20] != "1" else "2") + filler[0][21:], lines[1], lines[2]]
    r = parse_td1(twice, today=date(2025, 6, 1))
    assert not r.valid and not r.checks["composite"]


def test_a_digit_split_in_two_is_realigned_by_the_check_digits() -> None:
    # OCR read the birth date's check digit `6` as `60`: every field after it shifted one place right
    lines = _td1("046189938545", "891215", "F", "291215", "NGUYEN<<THI<MAI")
    split = [lines[0], lines[1][:7] + "0" + lines[1][7:], lines[2]]
    assert len(split[1]) == 31
    r = parse_td1(split, today=date(2025, 6, 1))
    assert r.valid, r.checks
    assert r.lines[1] == lines[1]
    assert (r.sex, r.expiry_date) == ("female", date(2029, 12, 15))
    assert any("realigned" in x for x in r.repairs)


def test_a_dropped_filler_is_realigned() -> None:
    lines = _td1("046090012345", "900315", "M", "300315", "NGUYEN<<VAN<AN")
    short = [lines[0], lines[1][:20] + lines[1][21:], lines[2]]  # one `<` of the filler lost
    r = parse_td1(short, today=date(2025, 6, 1))
    assert r.valid, r.checks
    assert r.lines[1] == lines[1]


def test_a_doubled_digit_and_a_speck_after_the_zone() -> None:
    lines = _td1("046075200071", "750707", "M", "350707", "LE<<VAN<LOI")
    read = ["IDVNM0O" + lines[0][6:] + "O", lines[1], lines[2]]  # `0` read as `0O`, a speck after the line
    assert len(read[0]) == 32
    r = parse_td1(read, today=date(2025, 6, 1))
    assert r.valid, r.checks
    assert r.id_number == "046075200071"


def test_realignment_keeps_fields_that_checked_before_the_slip() -> None:
    # deleting the `2` of the date would also pass every check here (880316, check 0), but the birth date
    # checked as read, so the slip must come after it
    lines = _td1("045188361830", "880312", "F", "280312", "TRAN<<THANH<PHUONG")
    split = [lines[0], lines[1][:7] + "0" + lines[1][7:], lines[2]]
    r = parse_td1(split, today=date(2025, 6, 1))
    assert r.valid, r.checks
    assert r.birth_date == date(1988, 3, 12)
    assert r.sex == "female"


def test_number_consistency_between_fields() -> None:
    lines = _td1("046090012345", "900315", "M", "300315", "NGUYEN<<VAN<AN")
    l1 = lines[0]
    # a document number that is not the tail of the 12-digit number (check digits still right)
    other = "111111111"
    cd = check_digit(other)
    lines[0] = l1[:5] + other + cd + l1[15:]
    r = parse_td1(lines)
    assert r.checks["document_number"]
    assert r.checks["number_consistency"] is False
    assert not r.valid


def test_find_lines_in_noisy_ocr_output() -> None:
    noisy = ["Vân tay ngón trỏ phải", "CỤC TRƯỞNG", GOOD[0], GOOD[1], GOOD[2]]
    assert find_td1_lines(noisy) == GOOD
    assert find_td1_lines(["no zone here", "nothing"]) is None


def _render(lines: list[str], *, size: int = 30, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    img = Image.new("L", (1012, 638), 235)
    d = ImageDraw.Draw(img)
    d.text((40, 60), "Đặc điểm nhân dạng / Personal identification", font=font("sans", 22), fill=30)
    for i, line in enumerate(lines):
        d.text((40, 480 + i * 44), line, font=font("mono", size), fill=20)
    a = np.asarray(img).astype(np.float32)
    if noise:
        a += np.random.default_rng(seed).normal(0, noise, a.shape)
    return np.clip(a, 0, 255).astype(np.uint8)


def test_read_rendered_zone() -> None:
    lines = _td1("046185004321", "850704", "F", "250704", "LE<<THI<HUONG")
    r = read_mrz(_render(lines), READER)
    assert r is not None and r.valid, r and r.checks
    assert r.id_number == "046185004321"
    assert r.sex == "female"
    assert r.full_name == "LE THI HUONG"


def test_read_rendered_zone_with_noise() -> None:
    r = read_mrz(_render(GOOD, noise=18.0, seed=3), READER)
    assert r is not None
    assert r.id_number == "046090012345"
    assert r.valid, r.checks


def test_no_zone_on_a_blank_card() -> None:
    img = np.full((638, 1012), 240, np.uint8)
    assert read_mrz(img, READER) is None
