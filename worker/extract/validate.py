"""Validators and cross-checks for identity fields: number structure, dates that exist, the expiry rule.

Every check returns `Issue`s rather than raising: a disagreement is evidence for the reviewer (and lowers
a confidence), not a reason to drop a reading. Messages name both values so review can see the conflict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from models import fields as F
from worker.vntext import name_key

# Province codes of the 12-digit number (the 2-digit administrative province code, zero padded). The
# 2025 mergers left these in use on every existing card, so an unknown prefix is only a warning.
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh",
    "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip

EXPIRY_AGES = (25, 40, 60)

# the fields an issue concerns when it does not count against the model's features (an unknown province
# prefix is allowed, but a misread digit is far likelier on a card than a code no province ever had)
WARNED_FIELDS: dict[str, tuple[str, ...]] = {
    "id_number_province": (F.ID_NUMBER,),
    "issue_before_birth": (F.ISSUE_DATE, F.DATE_OF_BIRTH),
    "date_of_birth_age": (F.DATE_OF_BIRTH,),
}
NO_EXPIRY_FROM_AGE = 58


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    severity: str = "warning"  # "warning": worth a look; "error": the values cannot both be right
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def make_date(year: int, month: int, day: int) -> date | None:
    """The date if it exists on the calendar (31/02 does not), else None."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


_DATE_RE = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})")


def parse_date(text: str | None) -> date | None:
    """`15/03/1990`, `15-03-1990`, `15.03.1990` → date (day first, as printed in Vietnam)."""
    if not text:
        return None
    m = _DATE_RE.search(text)
    if not m:
        digits = re.sub(r"\D", "", text)
        if len(digits) == 8:
            return make_date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
        return None
    return make_date(int(m.group(3)), int(m.group(2)), int(m.group(1)))


def century_sex_digit(year: int, sex: str) -> str | None:
    """The 4th digit of the 12-digit number: (century index * 2) + (1 if female)."""
    century = (year // 100) - 19
    if not 0 <= century <= 4 or sex not in ("male", "female"):
        return None
    return str(century * 2 + (1 if sex == "female" else 0))


def decode_id12(number: str) -> dict[str, object] | None:
    """Province code, century, sex and 2-digit birth year encoded in a 12-digit personal number."""
    if not re.fullmatch(r"\d{12}", number or ""):
        return None
    g = int(number[3])
    if g > 9:
        return None
    century = 1900 + (g // 2) * 100
    return {
        "province": number[:3],
        "province_name": PROVINCE_CODES.get(number[:3]),
        "sex": "female" if g % 2 else "male",
        "birth_year": century + int(number[4:6]),
    }


def check_id12(number: str | None, *, dob: date | None = None, sex: str | None = None) -> list[Issue]:
    """The 12-digit number's structure against the printed birth date and sex."""
    if not number:
        return []
    if not re.fullmatch(r"\d{12}", number):
        return [Issue("id_number_format", f"{number!r} is not 12 digits", "error", (F.ID_NUMBER,))]
    info = decode_id12(number)
    assert info is not None
    issues: list[Issue] = []
    if int(number[3]) > 5:
        issues.append(Issue("id_number_century", f"century/sex digit {number[3]} is not 0-5", "error", (F.ID_NUMBER,)))
    if info["province_name"] is None:
        issues.append(Issue("id_number_province", f"province code {number[:3]} is not a known province", "warning"))
    if dob is not None and info["birth_year"] != dob.year:
        issues.append(
            Issue(
                "id_number_birth_year",
                f"id_number encodes birth year {info['birth_year']}, date_of_birth is {dob.isoformat()}",
                "error",
                (F.ID_NUMBER, F.DATE_OF_BIRTH),
            )
        )
    if sex in ("male", "female") and int(number[3]) <= 5 and info["sex"] != sex:
        issues.append(
            Issue(
                "id_number_sex",
                f"id_number digit {number[3]} encodes {info['sex']}, printed sex is {sex}",
                "error",
                (F.ID_NUMBER, F.SEX),
            )
        )
    return issues


# digits a recogniser confuses with each other on the thin red numerals of the 2016 card (shape neighbours)
_DIGIT_LOOKALIKES = {"0": "689", "1": "74", "2": "7", "3": "58", "4": "1", "5": "36", "6": "580", "7": "12",
                     "8": "360", "9": "0"}  # fmt: skip


def province_of_addresses(addresses: list[str]) -> set[str]:
    """The province codes whose province ends one of these addresses (`..., Thanh Hóa` → {"038"})."""
    found = set()
    for address in addresses:
        tail = _fold_key(address.split(",")[-1])
        for code, name in PROVINCE_CODES.items():
            key = _fold_key(name)
            # a letter lost at the end of a line (`Thanh Hó`) still names the province
            ends = (key, key[:-1]) if len(key) >= 6 else (key,)
            if any(f" {tail}".endswith(f" {e}") for e in ends) or (code == "046" and tail in ("HUE", "TP HUE")):
                found.add(code)
    return found


def _fold_key(text: str) -> str:
    return re.sub(r"[^A-Z ]", "", name_key(text)).strip()


def repair_province(number: str, addresses: list[str]) -> tuple[str, Issue] | None:
    """A 12-digit number whose province code names no province of the card's addresses, while exactly one
    code a single look-alike digit away does (`058` Ninh Thuận read for `038` Thanh Hóa, origin Thanh Hóa):
    the number with that code, and the warning that says so. The code is where the birth was registered,
    usually the place of origin; a code one misread digit from it is likelier a misread than a coincidence."""
    if not re.fullmatch(r"\d{12}", number or ""):
        return None
    named = province_of_addresses(addresses)
    code = number[:3]
    if not named or code in named:
        return None
    near = {
        code[:i] + alt + code[i + 1 :] for i, ch in enumerate(code) for alt in _DIGIT_LOOKALIKES.get(ch, "")
    } & named
    if len(near) != 1:
        return None
    fixed = near.pop()
    issue = Issue(
        "id_number_province_repaired",
        f"province code {code} ({PROVINCE_CODES.get(code, 'unknown')}) is one look-alike digit from {fixed} "
        f"({PROVINCE_CODES[fixed]}), the province of the card's addresses",
        "warning",
        (F.ID_NUMBER,),
    )
    return fixed + number[3:], issue


# the 9-digit CMND's first two digits: the issuing province's police, 01 (Hà Nội) to 38 (Cà Mau, Bạc Liêu)
# in the 1999 numbering (19 Quảng Bình to Thừa Thiên Huế); another prefix is a misread digit or a number
# this list does not know, so only a warning
CMND9_PREFIXES = frozenset(f"{k:02d}" for k in range(1, 39))


def check_cmnd9(number: str | None) -> list[Issue]:
    if not number:
        return []
    if not re.fullmatch(r"\d{9}", number):
        return [Issue("id_number_format", f"{number!r} is not 9 digits", "error", (F.ID_NUMBER,))]
    if number[:2] not in CMND9_PREFIXES:
        return [Issue("id_number_province", f"prefix {number[:2]} is no province's", "warning", (F.ID_NUMBER,))]
    return []


def _birthday(dob: date, age: int) -> date:
    # 29 February birthdays fall on 28 February in common years
    return make_date(dob.year + age, dob.month, dob.day) or date(dob.year + age, 2, 28)


def age_on(dob: date, day: date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def expected_expiry(dob: date, issue_date: date) -> date | None:
    """Expiry the CCCD rule gives: the next of the 25th/40th/60th birthday, skipping one reached within 2
    years of issue; None (no expiry) when issued at 58 or later."""
    age = age_on(dob, issue_date)
    if age >= NO_EXPIRY_FROM_AGE:
        return None
    for milestone in EXPIRY_AGES:
        if age < milestone - 2:
            return _birthday(dob, milestone)
    return None


def expiry_by_rule(dob: date, issued_from: date, issued_to: date) -> date | None:
    """The one expiry the age rule gives a card issued at any day of a generation's issuing years, or None
    when the day of issue would change it (a milestone birthday near those years, no expiry from 58)."""
    if issued_to < dob:
        return None
    first = max(issued_from, dob)
    # the rule changes only at birthdays: the window's ends and the birthdays inside it are every case
    days = [first, issued_to] + [
        b for age in range(age_on(dob, first), age_on(dob, issued_to) + 1) if first <= (b := _birthday(dob, age)) <= issued_to
    ]
    found = {expected_expiry(dob, d) for d in days}
    return found.pop() if len(found) == 1 else None


def check_expiry(
    dob: date | None, expiry: date | None, *, issue_date: date | None = None, no_expiry: bool = False
) -> list[Issue]:
    """Expiry against the age rule. Without an issue date only the shape can be checked: the expiry must
    be a 25th/40th/60th birthday."""
    if dob is None or (expiry is None and not no_expiry):
        return []
    if issue_date is not None:
        if issue_date < dob:
            return [Issue("issue_before_birth", f"issue date {issue_date} is before birth {dob}", "error")]
        want = expected_expiry(dob, issue_date)
        got = None if no_expiry else expiry
        if want != got:
            return [
                Issue(
                    "expiry_rule",
                    f"date_of_expiry {got.isoformat() if got else 'none'} but the age rule gives "
                    f"{want.isoformat() if want else 'none'} for birth {dob} issued {issue_date}",
                    "warning",
                    (F.DATE_OF_EXPIRY,),
                )
            ]
        return []
    if no_expiry:
        return []
    assert expiry is not None
    if not any(_birthday(dob, m) == expiry for m in EXPIRY_AGES):
        return [
            Issue(
                "expiry_rule",
                f"date_of_expiry {expiry.isoformat()} is not the 25th, 40th or 60th birthday of {dob.isoformat()}",
                "warning",
                (F.DATE_OF_EXPIRY, F.DATE_OF_BIRTH),
            )
        ]
    return []


def repair_expiry(dob: date, expiry: date, issue_date: date | None = None) -> date | None:
    """An expiry the age rule forbids, one or two digits from the one date it allows (with the issue date)
    or from exactly one of the 25th/40th/60th birthdays (without): that date. The rule leaves so few dates
    that a reading this close to one is a misread of it, not another card."""
    if issue_date is not None:
        want = expected_expiry(dob, issue_date)
        allowed = [want] if want is not None else []
    else:
        allowed = [_birthday(dob, m) for m in EXPIRY_AGES]
    if expiry in allowed or not allowed:
        return None
    read = expiry.isoformat()
    dist = {d: sum(a != b for a, b in zip(read, d.isoformat(), strict=True)) for d in allowed}
    best = min(dist.values())
    near = [d for d, n in dist.items() if n == best]
    return near[0] if best <= 2 and len(near) == 1 else None


def check_dates(dob: date | None, *, today: date | None = None) -> list[Issue]:
    today = today or date.today()
    if dob is None:
        return []
    if dob > today:
        return [Issue("date_of_birth_future", f"date_of_birth {dob} is in the future", "error", (F.DATE_OF_BIRTH,))]
    if age_on(dob, today) < 14 or age_on(dob, today) > 120:
        return [Issue("date_of_birth_age", f"date_of_birth {dob} gives an unlikely card holder age", "warning")]
    return []


def disagreement(field: str, a_source: str, a: object, b_source: str, b: object) -> Issue:
    return Issue(f"{field}_mismatch", f"{a_source} says {a!r}, {b_source} says {b!r}", "warning", (field,))


# --- machine-readable codes against the print ----------------------------------------------------------------

# the identity a card asserts: a QR or MRZ that disagrees with the print on one of these names someone else
IDENTITY_FIELDS = ("id_number", "full_name", "date_of_birth")
_CODE_SOURCES = frozenset({"qr", "mrz"})
_MISMATCH = re.compile(r"^(?P<field>\w+?)_mismatch: (?P<a>\w+) says .*, (?P<b>\w+) says ")
_FRONT_BACK = re.compile(r"^(?P<field>\w+?)_front_back_mismatch: ")


def code_print_conflicts(warnings: list[str]) -> list[str]:
    """The warnings that say a card's QR or MRZ disagrees with its print (or the front with the back, whose
    MRZ repeats it) on the number, the name or the birth date. A forged QR names another registry owner:
    such a card is evidence for review, never grounds to accept a match on its own."""
    return [w for w in warnings if _code_conflict(w) or _sides_conflict(w)]


def _code_conflict(warning: str) -> bool:
    m = _MISMATCH.match(warning)
    return m is not None and m["field"] in IDENTITY_FIELDS and bool({m["a"], m["b"]} & _CODE_SOURCES)


def _sides_conflict(warning: str) -> bool:
    m = _FRONT_BACK.match(warning)
    return m is not None and m["field"] in IDENTITY_FIELDS


# --- field types -----------------------------------------------------------------------------------------------

NAME_FIELDS = frozenset({"full_name", "name", "owner_name", "father_name", "mother_name", "spouse_name"})
DATE_FIELDS = frozenset({"date_of_birth", "date_of_expiry", "issue_date"})
# letters (any script, with their diacritics) in words joined by a space, a hyphen or an apostrophe
_NAME = re.compile(r"[^\W\d_]+(?:(?:[ '’-]|\. ?)[^\W\d_]+)*\.?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MARKUP_OR_CONTROL = re.compile(r"[<>\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def field_type_problem(name: str, value: object) -> str | None:
    """Why a value cannot be of its field's type (None when it can): a name holds letters, spaces and a few
    marks; a date is an ISO date; no text holds markup or control characters."""
    if value is None or not isinstance(value, str):
        return None
    if _MARKUP_OR_CONTROL.search(value):
        return "markup or control characters"
    if name in NAME_FIELDS and not _NAME.fullmatch(value.strip()):
        return "not a name (letters, spaces and - ' . only)"
    if name in DATE_FIELDS and value and not _ISO_DATE.fullmatch(value):
        return "not a date"
    return None


def enforce_field_types(fields: dict[str, Any], warnings: list[str]) -> None:
    """Drop (value None, confidence 0) every value that cannot be of its field's type, with a warning that
    names the field and the reason, never the value."""
    for name, fv in fields.items():
        if problem := field_type_problem(name, fv.value):
            fv.value, fv.confidence = None, 0.0
            warnings.append(f"{name}_invalid: {problem}; value dropped")
