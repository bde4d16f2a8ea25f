"""Record-linkage keys: the normalised forms of certificate serials, registry numbers, ID numbers, names,
wards and house addresses under which the registry import stores a parcel and the matcher looks one up.

One module for both sides, so a key computed from a scan and the same key computed from a registry row
cannot drift apart."""

from __future__ import annotations

import re
from functools import lru_cache

from worker.vntext import commune_name_key, fold, street_part

_NOT_KEY = re.compile(r"[^A-Z0-9]+")
_NOT_DIGIT = re.compile(r"\D+")


def serial_key(value: str | None) -> str | None:
    """`CS 123456`, `cs-123456`, `CS123456` → `CS123456`."""
    if not value:
        return None
    if value.isascii():
        key = value.replace(" ", "").upper()
        if not key.isalnum():
            key = _NOT_KEY.sub("", key)
    else:
        key = _NOT_KEY.sub("", fold(value).upper())
    return key or None


_DIGITS_TAIL = re.compile(r"\d{5,}$")


def serial_digits(key: str | None) -> str | None:
    """`CS123456` → `123456`, `AA06654954` → `06654954` (None when the serial has no such digit run)."""
    if not key:
        return None
    m = _DIGITS_TAIL.search(key)
    return m.group(0) if m else None


def registry_key(value: str | None) -> str | None:
    """`CS01234`, `CS 01234`, `CN00.383` → `CS01234`, `CS01234`, `CN00383`."""
    return serial_key(value)


def id_digits(value: str | None) -> str | None:
    if not value:
        return None
    value = str(value)
    digits = value if value.isdigit() else _NOT_DIGIT.sub("", value)
    return digits or None


@lru_cache(maxsize=262144)
def name_keys(name: str) -> tuple[str, str]:
    key = " ".join(fold(name).upper().split())
    return key, key.rsplit(" ", 1)[-1] if key else ""


@lru_cache(maxsize=65536)
def ward_key(part: str) -> str | None:
    return commune_name_key(part)


def commune_key(address: str) -> str | None:
    # the ward part (`P. Vĩnh Ninh`) repeats across a city while the house part does not: cache on the part
    for part in address.split(","):
        key = ward_key(part.strip())
        if key:
            return key
    return None


_NOT_WORD = re.compile(r"[^\w\s/]")
_STREET_FILLERS = frozenset({"so", "duong", "nha", "pho"})


def address_key(address: str | None) -> str | None:
    """The house number and street of an address, folded: `28 Kiệt 309 Võ Thị Sáu, Phường Vỹ Dạ, ...` and
    `28 K. 309 Võ Thị Sáu, P. Vỹ Dạ` → `28 kiet 309 vo thi sau`. None when the address does not start with a
    house number (a village or residential group names many households, not one parcel)."""
    if not address:
        return None
    first = address.split(",", 1)[0].strip()
    if not first or not (first[0].isdigit() or first[:2].lower() == "số"):
        return None
    if "." in first:  # abbreviations (`Đ.`, `K.`): the full expansion
        key = street_part(first)
    else:
        key = " ".join(w for w in _NOT_WORD.sub(" ", fold(first).lower()).split() if w not in _STREET_FILLERS)
    return key[:200] if key[:1].isdigit() else None
