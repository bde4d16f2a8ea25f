"""Label patterns of the certificate forms, matched on a diacritic-folded copy of the page's text (OCR
tone errors do not break them)."""

from __future__ import annotations

import re

from models import fields as F

_SEP = r"\s*[:;.,]?\s*"


# an item marker before a label: `a) `, `đ) `, `4. `, `b. `; read as `4:` or `c;` only at a line start, where
# it cannot be the end of the previous value (`Thửa đất số: 36; tờ bản đồ số`)
_ITEM = r"(?:(?<![\w])(?:[a-hø]|\d{1,2})\s*[).]\s*|(?<![^\n])[ \t]*(?:[a-hø]|\d{1,2})\s*[:;]\s*)?"


_P2_LABELS: dict[str, str] = {
    # `Thửa` read `Thờa` on a photo
    F.PARCEL_NUMBER: r"th[uo]a\s*(?:dat\s*)?so",
    # a blurred photo's `tớ bản đ số`, `tờ bại độ xố`, `tở bán đồ «ó`: `tờ b.. đ. .ố`
    F.MAP_SHEET_NUMBER: r"to\s*ba[a-z]?\s*do?\s*[^\s\d]?o(?![a-z])",
    F.PARCEL_ADDRESS: r"dia\s*chi(?:\s*thu[a-z]?\s*d[a-z]{1,3})?(?!\s*thuong)",
    # `Diện`/`Thời` with the first letter misread (`lien tích`, `Phời hạn`) on a photographed page
    F.AREA_M2: r"(?:dien|lien)\s*ti(?:ch|cic|c|h)",
    F.AREA_IN_WORDS: r"bang\s*chu",
    F.LAND_USE_FORM: r"hinh\s*thuc\s*su\s*dung",
    F.LAND_USE_PURPOSE: r"(?:muc\s*dich\s*su\s*dung|loai\s*dat)",
    F.LAND_USE_TERM: r"[tp]hoi\s*han\s*su\s*dung",
    F.LAND_USE_ORIGIN: r"nguon\s*goc\s*su\s*dung",
}


P2_PATTERNS = {k: re.compile(_ITEM + v + _SEP) for k, v in _P2_LABELS.items()}


# the labels as printed once folded (but for a letter pair the print's font is often misread by): a value
# after a label matched only by the loose spelling above sits on a line the photo blurred, held for review
P2_EXACT = {
    name: re.compile(pattern + _SEP + "$")
    for name, pattern in (
        (F.PARCEL_NUMBER, r"thua\s*(?:dat\s*)?so"),
        (F.MAP_SHEET_NUMBER, r"to\s*ban\s*do\s*[sx]o"),  # `số` read `xố` is the font's usual confusion
        (F.AREA_M2, r"(?:dien|lien)\s*tich"),
    )
}


# section labels that end the value before them; anchored at a line start so purpose text like
# `Đất trồng cây lâu năm: 50 m²` never reads as the `5. Cây lâu năm:` section
STOPS = [
    re.compile(r"(?m)^\s*(?:\d\s*[.):;]\s*)?(?:nha\s*o|cong\s*trinh\s*xay\s*dung|rung\s*san\s*xuat|cay\s*lau\s*nam"
               r"|ghi\s*chu|thong\s*tin\s*tai\s*san|so\s*do\s*thua\s*dat|nhung\s*thay\s*doi)[^\n]{0,30}?[:;]"),
    re.compile(r"(?<![\w])\d\s*[.):;]\s*(?:thong\s*tin\s*tai\s*san|ghi\s*chu|nha\s*o\s*:|cong\s*trinh\s*xay\s*dung)"),
    re.compile(r"(?m)^[^\n]*\bngay\s*\d{1,2}\s*thang\s*\d{1,2}\s*nam\s*\d{4}"),
    re.compile(r"(?m)^[^\n]{0,30}\bng[a-z]{1,3}\s*\S{1,3}\s*th[a-z]{2,4}\s*\S{1,3}\s*n[a-z]{1,3}\s*\S{3,6}\s*$"),
    re.compile(r"so\s*vao\s*so|vao\s*so\s*cap"),
    # the signing body's lines (a value never runs into them, even when the date line above was lost)
    re.compile(r"(?m)^\s*(?:tm|kt|tl|tuq)\s*[.,]\s*[^\n]{0,4}(?:uy\s*ban|chu\s*tich|giam\s*doc|so\s)"),
    re.compile(r"(?m)^\s*(?:so\s*tai\s*nguyen|so\s*nong\s*nghiep|uy\s*ban\s*nhan\s*dan)"),
    # any new numbered section at a line start (`3. Thông tin tài sản` however badly read)
    re.compile(r"(?m)^[ \t]*\d\s*[.)]\s+(?=[^\W\d_])"),
    re.compile(r"(?m)^\s*(?:\d\s*[.)]\s*)?thong\s*tin\s*thua\s*dat"),
    # the house section's first item, which a two-column layout pass runs onto the parcel's last line
    re.compile(r"(?:(?<![\w])[a-h]\s*[).]\s*)?loai\s*nha\s*o\s*[:;]"),
    re.compile(r"(?m)^\s*(?:ii|i1|il|11)\s*[.\-]"),
]  # fmt: skip


DATE_LINE = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")


# the same line when italics and a seal garbled it (`Tiue, ngay Ở thang 3 nam ZUU.Š`)
DATE_LOOSE = re.compile(r"\bng[a-z]{1,3}\s*(\S{1,8})\s*th[a-z]{2,4}\s*(\S{1,8})\s*n[a-z]{1,3}\s*(\S{3,6})")


REGISTRY = re.compile(
    r"(?:so\s*vao\s*so\s*cap\s*(?:gcn|giay\s*chung\s*nhan)|vao\s*so\s*cap\s*giay\s*chung\s*nhan\s*(?:qsdd?|quyen\s*su\s*dung\s*dat)?\s*so)"
    + _SEP
)


OWNER_SECTION = re.compile(r"(?:ten\s*)?nguoi\s*su\s*dung\s*dat[^\n]*")


# a page edge, a seal's rim or a stamp's frame often reads as a speck before the title (`| Bà: ...`), on a
# phone photo as a lone letter (`Ỉ Hộ Ông (Bà): ...`)
OWNER_START = re.compile(
    r"(?m)^[ \t]*(?:[-•|!\[\](){}'\"`.,_~/\\]\s*){0,3}(?:[^\W\d_][ \t]+)?"
    r"(?P<title>ho\s*ong\s*\(?\s*ba\s*\)?|ho\s*(?:gia\s*dinh\s*)?(?:ong|ba)|va\s*(?:vo|chong)\s*(?:la\s*)?(?:ong|ba)?"
    r"|va\s*(?:ong|ba)|ong\s*\(\s*ba\s*\)|ong|ba)\s*[:;.]"
)


OWNER_START_LOOSE = re.compile(
    r"(?m)^[ \t]*(?P<title>[^\W\d_]{1,4})(?=\s*[:;.]?\s+[^\n]*(?:cccd|cmnd|cmt|sinh\s*nam|nam\s*sinh|\d{9}))\s*[:;.]?"
)


# the pre-2009 form's co-owner line with its title misread (`3a: Đồ Thị Nga` for `Bà: Đỗ Thị Nga`): a short
# word and a colon, the name in title case, and `Năm sinh` opening the next line
OWNER_START_PRE = re.compile(r"(?m)^[ \t]*(?P<title>[^\W_]{1,4})\s*[:;.](?=[^\n]*\n[ \t]*nam\s*sinh)")


TITLE_CASE_NAME = re.compile(r"\s*(?:[A-ZĐÀ-Ỹ][^\W\d_]*\s+){1,5}[A-ZĐÀ-Ỹ][^\W\d_]*\s*$", re.MULTILINE)


# a phone photo's year can lose its first digit (`Năm sinh: 962`): three digits alone are read too; the
# label's `s` is often misread (`Năm xinh`, `Năm ‹inh`)
BIRTH_YEAR = re.compile(r"(?:sinh\s*nam|nam\s*\S?inh)\s*[:;.]?\s*(?P<y>[0-9oil|]{4}|[0-9]{3}(?![0-9oil|]))")


OWNER_ID = re.compile(
    r"(?P<label>(?:so\s*)?(?:cmnd|cmt|cccd|can\s*cuoc(?:\s*cong\s*dan)?|so\s*dinh\s*danh(?:\s*ca\s*nhan)?|ho\s*chieu"
    r"|giay\s*to\s*tuy\s*than))\s*(?:so)?\s*[:;.]?\s*(?P<num>[0-9oil|][0-9oil| ]{6,16}[0-9oil|]|-\s*/\s*-)"
)


# an ID number whose label OCR garbled (`ŒCŒCD số: 046...`): a 9- or 12-digit run on its own
BARE_ID = re.compile(
    r"(?P<label>[^\s\d]{0,8}\s*(?:so)?\s*[:;.]?)\s*(?P<num>(?<![\d])(?:\d[\d ]{10,13}\d|\d{9})(?![\d]))"
)


# `Địa chỉ` read `Địa chủ` on a photo: with `thường trú` after it, still the label
ADDRESS_LABEL = re.compile(r"(?:dia\s*chi|dia\s*ch[a-z]\s*(?=thuong\s*tr))(?:\s*thuong\s*tru)?" + _SEP)


OWNERS_END = re.compile(r"(?m)thong\s*tin\s*thua\s*dat|^\s*(?:ii|i1|il|11)\s*[.\-]\s*thua")


CHANGES_HEADING = re.compile(r"nhung\s*thay\s*doi[^\n]*")


# letters, then 6 or 8 digits whose first is a real digit (`CS23346` is a registry number, not C + S2334 6)
SERIAL_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2})\s?([0-9][0-9OIlSB]{5}(?:[0-9OIlSB]{2})?)(?![0-9A-Za-z])")


SERIAL_GAP_RE = re.compile(r"(?<![A-Z0-9])([A-Z]{2})[LI|]([0-9]{6}(?:[0-9]{2})?)(?![0-9])")


CODE_RE = re.compile(r"(?<![0-9A-Za-z])([0-9A-Z]{12})(?![0-9A-Za-z])")


# the province an owner's address ends with (pre-2025 `tỉnh Thừa Thiên Huế`, from 2025 `thành phố Huế`)
PROVINCE_END = re.compile(r"thua\s*thien\s*-?\s*hue|thanh\s*pho\s*hue(?!\s*,)")


# an owner title inside another owner's address: `Bà:`, `Ông:`, `Và vợ:`, `Và chồng:`
OWNER_IN_ADDRESS = re.compile(r"(?<![a-z])(?:ba|ong|va\s*vo|va\s*chong)\s*[:;]")
