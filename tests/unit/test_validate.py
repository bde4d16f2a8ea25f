"""Identity validators: 12-digit number structure vs birth date and sex, real dates, the expiry rule."""

from __future__ import annotations

from datetime import date

import pytest

from worker.extract.validate import (
    check_cmnd9,
    check_dates,
    check_expiry,
    check_id12,
    decode_id12,
    expected_expiry,
    expiry_by_rule,
    make_date,
    parse_date,
)


def codes(issues) -> set[str]:
    return {i.code for i in issues}


@pytest.mark.parametrize(
    ("number", "dob", "sex"),
    [
        ("046090012345", date(1990, 3, 15), "male"),
        ("046185004321", date(1985, 7, 4), "female"),
        ("079203001122", date(2003, 1, 1), "male"),
        ("001305998877", date(2005, 12, 31), "female"),
    ],
)
def test_good_numbers(number: str, dob: date, sex: str) -> None:
    assert check_id12(number, dob=dob, sex=sex) == []
    info = decode_id12(number)
    assert info is not None and info["birth_year"] == dob.year and info["sex"] == sex


def test_birth_year_and_sex_disagreements_name_both_values() -> None:
    issues = check_id12("046090012345", dob=date(1991, 3, 15), sex="female")
    assert codes(issues) == {"id_number_birth_year", "id_number_sex"}
    text = " ".join(str(i) for i in issues)
    assert "1990" in text and "1991-03-15" in text and "female" in text and "male" in text
    assert all(i.severity == "error" for i in issues)


def test_unknown_province_is_only_a_warning() -> None:
    issues = check_id12("003090012345", dob=date(1990, 1, 1), sex="male")
    assert codes(issues) == {"id_number_province"}
    assert issues[0].severity == "warning"


@pytest.mark.parametrize("number", ["04609001234", "0460900123456", "04609001234X", "046 90012345"])
def test_bad_shapes(number: str) -> None:
    assert codes(check_id12(number)) == {"id_number_format"}


def test_century_digit_out_of_range() -> None:
    assert "id_number_century" in codes(check_id12("046790012345"))


def test_cmnd9() -> None:
    assert check_cmnd9("191234567") == []
    assert codes(check_cmnd9("19123456")) == {"id_number_format"}
    # a prefix no province's police issued under (a misread first digit) warns; 01-38 do not
    assert codes(check_cmnd9("791234567")) == {"id_number_province"}
    assert check_cmnd9("012345678") == [] and check_cmnd9("381234567") == []


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("15/03/1990", date(1990, 3, 15)),
        ("Sinh ngày: 5-3-1990", date(1990, 3, 5)),
        ("15.03.1990", date(1990, 3, 15)),
        ("15031990", date(1990, 3, 15)),
        ("31/02/1990", None),
        ("29/02/2001", None),
        ("29/02/2000", date(2000, 2, 29)),
        ("", None),
        ("Không thời hạn", None),
    ],
)
def test_parse_date(text: str, want: date | None) -> None:
    assert parse_date(text) == want


def test_make_date() -> None:
    assert make_date(2024, 2, 29) == date(2024, 2, 29)
    assert make_date(2023, 2, 29) is None
    assert make_date(2023, 13, 1) is None


@pytest.mark.parametrize(
    ("dob", "issued", "want"),
    [
        (date(2000, 5, 10), date(2016, 1, 1), date(2025, 5, 10)),  # 15 at issue: to 25
        (date(2000, 5, 10), date(2023, 6, 1), date(2040, 5, 10)),  # 23, within 2 years of 25: to 40
        (date(1990, 3, 15), date(2021, 6, 1), date(2030, 3, 15)),  # 31: to 40
        (date(1983, 3, 15), date(2021, 6, 1), date(2043, 3, 15)),  # 38: to 60
        (date(1965, 3, 15), date(2021, 6, 1), date(2025, 3, 15)),  # 56: to 60
        (date(1962, 3, 15), date(2021, 6, 1), None),  # 59: no expiry
    ],
)
def test_expected_expiry(dob: date, issued: date, want: date | None) -> None:
    assert expected_expiry(dob, issued) == want


@pytest.mark.parametrize(
    ("dob", "want"),
    [
        (date(1990, 3, 15), date(2030, 3, 15)),  # 30-34 while chip cards were issued: to 40 whenever issued
        (date(2003, 3, 14), date(2028, 3, 14)),  # 17-21: to 25
        (date(1981, 3, 14), date(2041, 3, 14)),  # 39-43: to 60
        (date(1998, 6, 1), None),  # 22 or 23 depending on the day of issue: to 25 or to 40
        (date(1964, 6, 1), None),  # 56 or 58 and over: to 60 or no expiry
        (date(1960, 6, 1), None),  # no expiry: not a date to give
    ],
)
def test_the_expiry_a_birth_date_allows_over_a_generations_issuing_years(dob: date, want: date | None) -> None:
    assert expiry_by_rule(dob, date(2021, 1, 1), date(2024, 6, 30)) == want


def test_expiry_rule_with_issue_date() -> None:
    assert check_expiry(date(1990, 3, 15), date(2030, 3, 15), issue_date=date(2021, 6, 1)) == []
    issues = check_expiry(date(1990, 3, 15), date(2031, 3, 15), issue_date=date(2021, 6, 1))
    assert codes(issues) == {"expiry_rule"}
    assert "2031-03-15" in str(issues[0]) and "2030-03-15" in str(issues[0])
    assert check_expiry(date(1962, 3, 15), None, issue_date=date(2021, 6, 1), no_expiry=True) == []
    assert codes(check_expiry(date(1990, 3, 15), None, issue_date=date(2021, 6, 1), no_expiry=True)) == {"expiry_rule"}


def test_expiry_rule_without_issue_date_checks_the_birthday_shape() -> None:
    assert check_expiry(date(1990, 3, 15), date(2030, 3, 15)) == []
    assert check_expiry(date(1990, 3, 15), date(2050, 3, 15)) == []
    assert codes(check_expiry(date(1990, 3, 15), date(2030, 3, 16))) == {"expiry_rule"}
    assert codes(check_expiry(date(1990, 3, 15), date(2035, 3, 15))) == {"expiry_rule"}


def test_leap_day_birthday() -> None:
    assert check_expiry(date(2000, 2, 29), date(2025, 2, 28)) == []


def test_dates_that_cannot_be() -> None:
    assert codes(check_dates(date(2090, 1, 1), today=date(2025, 1, 1))) == {"date_of_birth_future"}
    assert codes(check_dates(date(1890, 1, 1), today=date(2025, 1, 1))) == {"date_of_birth_age"}
    assert check_dates(date(1990, 1, 1), today=date(2025, 1, 1)) == []
