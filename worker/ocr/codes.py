"""QR codes and barcodes (zxing-cpp) and the CCCD QR payload.

A decoded QR carries its own error correction, so when it decodes and parses it is the strongest evidence
on the card; the parser is strict about the payload's shape so a foreign QR is never taken for a card's.

Chip CCCD QR (domain.md): `<12-digit>|<old 9-digit or empty>|<name>|<DOB DDMMYYYY>|<Nam/Nữ>|<residence>|
<issue DDMMYYYY>` (6 fields when there is no old number). The 2024 card's format is unconfirmed: the same
shape is accepted, and an 8th or later field is kept as `extra` rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import cv2
import numpy as np
import zxingcpp

from worker.vntext import clean


@dataclass
class DecodedCode:
    text: str
    format: str  # "QRCode", "Code128", "PDF417", ...
    # corners TL, TR, BR, BL in the coordinates of the image passed in
    corners: list[tuple[int, int]] = field(default_factory=list)

    @property
    def box(self) -> list[int]:
        xs = [p[0] for p in self.corners] or [0]
        ys = [p[1] for p in self.corners] or [0]
        return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def decode_codes(image: np.ndarray, *, qr_only: bool = False, thorough: bool = False) -> list[DecodedCode]:
    """Every QR code/barcode found. The quick pass (~10 ms on a card) assumes an upright image and the
    formats cards carry; `thorough` adds rotations, inverted codes and a second try at 2x, for when a code
    is expected but the quick pass found none. (OpenCV's QR detector as a further fallback decoded none of
    the 25 codes zxing missed on the real dev set and the sample set, at 80 ms a try: dropped.)"""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    found = _zxing(grey, qr_only=qr_only, thorough=thorough)
    if found or not thorough or max(grey.shape) >= 1600:
        return found
    big = cv2.resize(grey, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    return [_scale(c, 0.5) for c in _zxing(big, qr_only=qr_only, thorough=True)]


def _zxing(grey: np.ndarray, *, qr_only: bool, thorough: bool) -> list[DecodedCode]:
    F = zxingcpp.BarcodeFormat
    if qr_only:
        formats = zxingcpp.BarcodeFormats(F.QRCode)
    elif thorough:
        formats = zxingcpp.BarcodeFormats(F.All)
    else:
        formats = zxingcpp.BarcodeFormats((F.QRCode, F.Code128, F.PDF417, F.DataMatrix))
    out = []
    for b in zxingcpp.read_barcodes(grey, formats=formats, try_rotate=thorough, try_invert=thorough):
        if not b.valid or not b.text:
            continue
        pos = b.position
        corners = [(p.x, p.y) for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
        out.append(DecodedCode(text=b.text, format=str(b.format).split(".")[-1].replace(" ", ""), corners=corners))
    return out


def _scale(code: DecodedCode, f: float) -> DecodedCode:
    code.corners = [(round(x * f), round(y * f)) for x, y in code.corners]
    return code


@dataclass
class CccdQr:
    id_number: str
    old_id_number: str | None
    full_name: str
    date_of_birth: date | None
    sex: str | None  # "male" / "female"
    place_of_residence: str
    issue_date: date | None
    extra: list[str] = field(default_factory=list)
    raw: str = ""


def _ddmmyyyy(s: str) -> date | None:
    if not re.fullmatch(r"\d{8}", s):
        return None
    try:
        return date(int(s[4:]), int(s[2:4]), int(s[:2]))
    except ValueError:
        return None


def parse_cccd_qr(text: str) -> CccdQr | None:
    """Parse the pipe-separated CCCD payload; None when the text is not one."""
    parts = [p.strip() for p in text.strip().split("|")]
    if len(parts) == 6:  # no old number: the second field is missing, not empty
        parts.insert(1, "")
    if len(parts) < 7 or not re.fullmatch(r"\d{12}", parts[0]):
        return None
    old = parts[1] or None
    if old is not None and not re.fullmatch(r"\d{9}|\d{12}", old):
        return None
    dob = _ddmmyyyy(parts[3])
    if dob is None:
        return None
    sex = {"nam": "male", "nữ": "female", "nu": "female"}.get(clean(parts[4]).lower())
    return CccdQr(
        id_number=parts[0],
        old_id_number=old,
        full_name=clean(parts[2]).upper(),
        date_of_birth=dob,
        sex=sex,
        place_of_residence=clean(parts[5]),
        issue_date=_ddmmyyyy(parts[6]),
        extra=parts[7:],
        raw=text,
    )


def read_cccd_qr(image: np.ndarray, *, thorough: bool = True) -> tuple[CccdQr, DecodedCode] | None:
    """Decode the card's QR code and parse its payload (the first QR that parses wins)."""
    for code in decode_codes(image, qr_only=True, thorough=thorough):
        parsed = parse_cccd_qr(code.text)
        if parsed is not None:
            return parsed, code
    return None
