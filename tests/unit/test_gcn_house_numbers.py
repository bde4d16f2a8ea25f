"""The house number opening an address (issue 16, real captures II): a slash the layout pass lost
(`269/51` read `26951`) made an address wrong at 0.99. Its own digits-and-slash reading restores the slash
or, disagreeing otherwise, keeps the address below certainty. Readings are written out, no engine runs."""

from __future__ import annotations

import pytest

from worker.extract.gcn.address import house_number_span, plausible_house_number, weigh_house_number
from worker.extract.gcn.evidence import Evidence, confidence_of

ADDRESS = "{} Lê Quý Đôn, phường An Cựu, thành phố Huế, tỉnh Thừa Thiên Huế"


def _address(number: str) -> Evidence:
    return Evidence("parcel_address", ADDRESS.format(number), (0, 0, 400, 20), ["ocr"], 0.9, 0.62)


@pytest.mark.parametrize(
    ("raw", "number"),
    [(" 269/51 Lê Quý Đôn", "269/51"), ("12A Hùng Vương", "12A"), ("Kiệt 5 Nguyễn Huệ", "5"), ("Thôn Giáp", None)],
)
def test_the_house_number_opening_an_address(raw: str, number: str | None) -> None:
    span = house_number_span(raw)
    assert (raw[span[0] : span[1]] if span else None) == number


def test_five_digits_in_one_part_are_no_house_number() -> None:
    assert plausible_house_number("269/51") and plausible_house_number("1264/78/114")
    assert not plausible_house_number("26951")


def test_a_slash_the_layout_lost_is_restored_from_the_numbers_own_reading() -> None:
    ev = _address("26951")
    kept = weigh_house_number(ev, "26951", "269/51")
    assert kept == "269/51" and ev.value == ADDRESS.format("269/51")
    assert ev.repaired and ev.disagree == 1


def test_other_digits_read_twice_keep_the_address_below_certainty() -> None:
    ev = _address("26951")
    assert confidence_of(ev) >= 0.9  # what the layout pass alone would have given
    kept = weigh_house_number(ev, "26951", "28951", lambda: "28951")
    assert kept == "26951" and ev.value == ADDRESS.format("26951")
    assert confidence_of(ev) < 0.9


def test_a_digit_the_reread_dropped_is_settled_by_a_third_reading() -> None:
    # a small whitelisted crop loses a digit more often than the layout pass adds one
    ev = _address("233")
    kept = weigh_house_number(ev, "233", "23", lambda: "233")
    assert kept == "233" and ev.value == ADDRESS.format("233")
    assert (ev.agree, ev.disagree, ev.check) == (1, 1, 0)
    assert confidence_of(ev) >= 0.9


def test_an_agreeing_reading_backs_the_address() -> None:
    ev = _address("269/51")
    weigh_house_number(ev, "269/51", "269/51")
    assert (ev.agree, ev.disagree, ev.check) == (1, 0, 0)
    assert confidence_of(ev) >= 0.9
