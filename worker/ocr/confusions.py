"""How the recogniser confuses letters and digits: one table for every reader.

Each row is a character Tesseract reads and the character the print more likely holds, with the kinds of
print where the confusion is repaired: `card` (identity-card print: numbers and dates), `certificate`
(certificate print: serials, parcel and map numbers, registry numbers, owners' ID numbers and years) and
`mrz` (the OCR-B-like face of a card's machine-readable zone). A repair is only made where a position can
hold only a digit (or only a letter): a number field, a date, an MRZ field of a known class.
"""

from __future__ import annotations

from functools import cache

# read  meant  card  certificate  mrz
_TABLE = """
Ø  0  x  .  .
O  0  x  x  x
o  0  x  x  .
D  0  x  x  x
Q  0  x  x  x
U  0  .  .  x
I  1  x  x  x
l  1  x  x  .
i  1  .  x  .
|  1  x  x  .
!  1  .  x  .
L  1  .  .  x
T  1  .  .  x
T  7  .  x  .
Z  2  x  x  x
z  2  .  x  .
S  5  x  x  x
s  5  .  x  .
B  8  x  x  x
G  6  x  x  x
g  9  .  x  .
A  4  .  .  x
0  O  .  x  x
1  I  .  x  x
2  Z  .  x  x
5  S  .  x  x
8  B  .  x  x
6  G  .  x  x
4  A  .  x  x
7  T  .  x  .
"""
KINDS = ("card", "certificate", "mrz")


@cache
def _rows() -> tuple[tuple[str, str, frozenset[str]], ...]:
    rows = []
    for line in _TABLE.strip().splitlines():
        read, meant, *marks = line.split()
        rows.append((read, meant, frozenset(k for k, m in zip(KINDS, marks, strict=True) if m == "x")))
    return tuple(rows)


@cache
def as_digit(kind: str) -> dict[str, str]:
    """Characters read where a digit is printed, mapped to that digit, for one kind of print."""
    return {read: meant for read, meant, kinds in _rows() if meant.isdigit() and kind in kinds}


@cache
def as_letter(kind: str) -> dict[str, str]:
    """Digits read where a capital letter is printed, mapped to that letter, for one kind of print."""
    return {read: meant for read, meant, kinds in _rows() if meant.isalpha() and kind in kinds}


@cache
def digit_translation(kind: str) -> dict[int, str]:
    """`as_digit` as a str.translate table."""
    return str.maketrans(as_digit(kind))


@cache
def letter_translation(kind: str) -> dict[int, str]:
    """`as_letter` as a str.translate table."""
    return str.maketrans(as_letter(kind))
