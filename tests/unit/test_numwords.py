"""Vietnamese number words: the second, independent reading of a certificate's area.

The parser under test is worker/extract/numwords.py (words → number); the oracle for the round trips is the
synthetic-data generator fixtures/vnnum.py (number → words), which shares no code with it."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from fixtures.vnnum import area_to_words, decimal_to_words, int_to_words
from worker.extract.numwords import (
    find_number_words,
    parse_number_words,
    repair_token,
    words_value,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # units and the zero word
        ("không", "0"),
        ("một", "1"),
        ("chín", "9"),
        ("bảy", "7"),
        ("bẩy", "7"),
        # mười (10, teens) vs mươi (tens multiplier)
        ("mười", "10"),
        ("mười một", "11"),
        ("mười bốn", "14"),
        ("hai mươi", "20"),
        ("chín mươi chín", "99"),
        # lăm / năm for 5 after a tens word, năm alone
        ("mười lăm", "15"),
        ("mười năm", "15"),
        ("hai mươi lăm", "25"),
        ("hai mươi nhăm", "25"),
        ("năm mươi", "50"),
        ("năm mươi lăm", "55"),
        # mốt and tư after mươi
        ("hai mươi mốt", "21"),
        ("hai mươi một", "21"),
        ("ba mươi tư", "34"),
        ("ba mươi bốn", "34"),
        # linh / lẻ for a zero tens digit
        ("một trăm linh năm", "105"),
        ("một trăm lẻ năm", "105"),
        ("ba trăm lẻ tư", "304"),
        ("hai nghìn không trăm linh một", "2001"),
        # scales, ngàn as a synonym, nested groups
        ("một nghìn", "1000"),
        ("một ngàn hai trăm", "1200"),
        ("mười lăm nghìn", "15000"),
        ("hai trăm nghìn", "200000"),
        ("một triệu không trăm linh năm", "1000005"),
        ("hai nghìn không trăm hai mươi", "2020"),
        # phẩy: the decimal comma, read as a number or digit by digit
        ("Một trăm hai mươi lăm phẩy bốn mét vuông", "125.4"),
        ("chín mươi ba phẩy không", "93"),
        ("không phẩy không năm", "0.05"),
        ("một trăm phẩy hai mươi lăm", "100.25"),
        ("một trăm phẩy hai lăm", "100.25"),
        ("bốn mươi phẩy mười", "40.10"),
    ],
)
def test_parse_number_words(text: str, expected: str) -> None:
    assert parse_number_words(text) == Decimal(expected)


def test_tone_marks_lost_by_ocr_do_not_matter() -> None:
    # the role of folded `muoi` (mười vs mươi) follows from its position
    assert parse_number_words("MOT TRAM HAI MUOI LAM PHAY BON MET VUONG") == Decimal("125.4")
    assert parse_number_words("muoi lam") == Decimal(15)
    assert parse_number_words("Hai rnươi mốt") == Decimal(21)  # rn read for m


@pytest.mark.parametrize(
    "text",
    [
        "một trăm năm",  # 105 with a dropped linh, or spoken 150: refuse to guess
        "hai mươi mươi",
        "phẩy",
        "một phẩy hai phẩy ba",
        "một trăm hai mươi lăm mét vuông Nguyễn",
        "",
    ],
)
def test_rejects_what_it_cannot_read_unambiguously(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number_words(text)


def test_find_number_words_in_an_ocr_line() -> None:
    line = "c) Diện tích: 125,4 m², (bằng chữ: Một trăm hai mươi lăm phẩy bốn mét vuông);"
    assert find_number_words(line) == Decimal("125.4")
    assert find_number_words("Bằng chữ: Hai trăm linh tư mét vuông") == Decimal(204)
    # a lone `Bà`/`Nam` is a word, not a number
    assert find_number_words("Bà: TRẦN THỊ NAM") is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        # how the generator (the oracle) spells the cases the grammar singles out
        (0, "không"),
        (15, "mười lăm"),
        (21, "hai mươi mốt"),
        (105, "một trăm linh năm"),
        ("125.4", "một trăm hai mươi lăm phẩy bốn"),
        (1005, "một nghìn không trăm linh năm"),
        ("0.05", "không phẩy không năm"),
    ],
)
def test_parses_what_the_generator_writes(value: object, words: str) -> None:
    assert decimal_to_words(str(value)) == words
    assert parse_number_words(words) == Decimal(str(value))


def test_round_trip_on_random_areas() -> None:
    rng = random.Random(5)
    values = [Decimal(rng.randint(0, 2_000_000)) / Decimal(10 ** rng.randint(0, 2)) for _ in range(2000)]
    for value in values:
        words = area_to_words(float(value), decimals=2)
        assert parse_number_words(words) == value, words
        # the same number with `lẻ` for the zero tens digit, as some offices print it
        words = decimal_to_words(str(value), linh="lẻ")
        assert parse_number_words(words) == value, words


def test_round_trip_on_integers_with_every_scale() -> None:
    rng = random.Random(9)
    for n in [*range(0, 1200), *(rng.randint(0, 3_000_000_000) for _ in range(2000))]:
        assert parse_number_words(int_to_words(n)) == n, int_to_words(n)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bằng chữ: Chín mươi sáu phẩy ba mét vuông);", "96.3"),
        ("(bằng chữ: Một trăm linh năm mét vuông)", "105"),
        # words OCR garbled by one letter are repaired: trôm → trăm, phãấy → phẩy, Bảv → bảy
        ("Một nghìn tám trôm mười chín phẩy chín mét vuông", "1819.9"),
        ("Sáu mươi lăm phãấy bốn mét vuông", "65.4"),
        ("Bảv mươi bốn phẩy hai mét vuông", "74.2"),
        # whatever OCR made of the rest of the line after the unit does not matter
        ("Chín mươi lăm phẩy chín mét vuốÑp} | |", "95.9"),
    ],
)
def test_words_value_reads_the_whole_amount(text: str, expected: str) -> None:
    assert words_value(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    [
        "Một nghìn tám ??? mười chín phẩy chín",  # a word lost in the middle: no fragment's value
        "Một nghìn tám trăm Nguyễn mười chín",
        "mét vuông",
    ],
)
def test_words_value_refuses_a_partial_amount(text: str) -> None:
    assert words_value(text) is None
    # the lenient finder would have returned a fragment's value: that is why cross-checks use words_value
    assert find_number_words("Một nghìn tám ??? mười chín phẩy chín") is not None


def test_repair_token_only_when_unambiguous() -> None:
    assert [repair_token(t) for t in ("trom", "phaay", "bav", "nghim", "vuon")] == [
        "tram",
        "phay",
        "bay",
        "nghin",
        "vuong",
    ]
    # short tokens and words far from any number word stay as they are
    assert repair_token("an") == "an"
    assert repair_token("nguyen") == "nguyen"
