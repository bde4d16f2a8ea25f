"""Differences between a scanned value and a registry value, shown on the values as printed.

Comparison ignores what is not a difference (letter case, spacing, tone-placement convention, and for
addresses the abbreviations clerks use: `P.` is `Phường`); display keeps each side's own text. Names and
codes are compared letter by letter, and a difference only in diacritics (`NGUYÊN` vs `NGUYỄN`, typical OCR
trouble) is marked apart from a different letter. Addresses are compared part by part (house and street,
ward, city), so two unrelated addresses show as different parts, never as a confetti of letters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Literal

from worker.vntext import address_key, clean, expand_address, strip_diacritics

Kind = Literal["same", "diacritic", "changed", "missing"]
ValueKind = Literal["text", "address", "code"]

_ADDRESS_FIELDS = ("address", "residence", "place_of_origin", "commune")
_CODE_FIELDS = ("id_number", "serial", "registry_number", "parcel_number", "birth_year", "area", "land_use_code")
_PUNCTUATION = re.compile(r"[^\w\s/]")


@dataclass(frozen=True)
class Segment:
    text: str
    kind: Kind


def value_kind(field: str) -> ValueKind:
    """How a field's values are compared: addresses by part, numbers and codes letter by letter, the rest
    (names) letter by letter with diacritics told apart."""
    if any(part in field for part in _ADDRESS_FIELDS):
        return "address"
    if any(part in field for part in _CODE_FIELDS):
        return "code"
    return "text"


def display(value: Any) -> str:
    """The value as printed, with whitespace tidied (and a whole-number float without its `.0`)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value))


def normalise_value(value: Any) -> str:
    """The comparison form: two values with the same form are the same value."""
    return display(value).upper()


def _address_part_key(part: str) -> str:
    return " ".join(_PUNCTUATION.sub(" ", expand_address(part).casefold()).split())


def values_equal(scanned: Any, record: Any, kind: ValueKind = "text") -> bool:
    if kind == "address":
        return [_address_part_key(p) for p in _parts(display(scanned))] == [
            _address_part_key(p) for p in _parts(display(record))
        ]
    return normalise_value(scanned) == normalise_value(record)


def _parts(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def char_diff(scanned: Any, record: Any, kind: ValueKind = "text") -> tuple[list[Segment], list[Segment], bool]:
    """(scanned segments, record segments, equal); each side's segments cover its displayed text."""
    a, b = display(scanned), display(record)
    if not a or not b:
        return ([Segment(a, "missing")] if a else []), ([Segment(b, "missing")] if b else []), False
    if values_equal(a, b, kind):
        return [Segment(a, "same")], [Segment(b, "same")], True
    if kind == "address":
        left, right = _address_diff(a, b)
    else:
        left, right = _letter_diff(a, b)
    return _merge(left), _merge(right), False


def _letter_diff(a: str, b: str) -> tuple[list[Segment], list[Segment]]:
    ka, kb = a.upper(), b.upper()
    if len(ka) != len(a) or len(kb) != len(b):  # a letter whose capital is two letters: compare as shown
        ka, kb = a, b
    # autojunk off: short values, and every character matters
    matcher = SequenceMatcher(None, ka, kb, autojunk=False)
    other_number = ka.isdigit() and kb.isdigit() and len(ka) != len(kb)  # a 12-digit ID vs a 9-digit CMND
    if other_number or matcher.ratio() < 0.5:
        # mostly different (another person, another number): highlighted letters would suggest a near miss
        return [Segment(a, "changed")], [Segment(b, "changed")]
    left: list[Segment] = []
    right: list[Segment] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        sa, sb = a[i1:i2], b[j1:j2]
        if op == "equal":
            left.append(Segment(sa, "same"))
            right.append(Segment(sb, "same"))
        elif op == "replace" and strip_diacritics(sa).upper() == strip_diacritics(sb).upper():
            left.append(Segment(sa, "diacritic"))
            right.append(Segment(sb, "diacritic"))
        else:
            if sa:
                left.append(Segment(sa, "changed" if sb else "missing"))
            if sb:
                right.append(Segment(sb, "changed" if sa else "missing"))
    return left, right


def _address_diff(a: str, b: str) -> tuple[list[Segment], list[Segment]]:
    pa, pb = _parts(a), _parts(b)
    keys_a, keys_b = [_address_part_key(p) for p in pa], [_address_part_key(p) for p in pb]
    left: list[Segment] = []
    right: list[Segment] = []

    def add(side: list[Segment], part: str, kind: Kind) -> None:
        if side:
            # the comma between two differing parts belongs to the difference: one block, not two
            side.append(Segment(", ", kind if side[-1].kind == kind else "same"))
        side.append(Segment(part, kind))

    matcher = SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                add(left, pa[i], "same")
                add(right, pb[j], "same")
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + offset, j1 + offset
            pair = i < i2 and j < j2
            kind: Kind = "changed" if pair else "missing"
            if pair and address_key(pa[i]) == address_key(pb[j]):
                kind = "diacritic"
            if i < i2:
                add(left, pa[i], kind)
            if j < j2:
                add(right, pb[j], kind)
    return left, right


def _merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].kind == seg.kind:
            out[-1] = Segment(out[-1].text + seg.text, seg.kind)
        else:
            out.append(seg)
    return out
