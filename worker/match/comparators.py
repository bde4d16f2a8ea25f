"""Vietnamese-aware comparison levels: each comparator maps a (scanned, registry) pair of values to a level,
most specific first. A level is what the Fellegi-Sunter model has m/u probabilities for; `None` means the
value is missing on one side (the field then adds no evidence either way).

Why these levels: the scan side is OCR output (Tesseract's `vie` model drops or swaps tone marks on capitals,
confuses ư/u, ơ/o, â/ă/a, ê/e, ô/o, đ/d, 0/O, 1/I, 5/S, 8/B), the registry side is clerk-typed (no diacritics,
legacy encodings, typos, old 9-digit CMND numbers, abbreviations, pre-2025 ward names). Equality after each
kind of folding is evidence of a different strength, and the data decide how much."""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, Levenshtein

from worker.vntext import clean, name_key, normalise_tone_placement, strip_tones

# comparison levels per field, most specific first (the order is the model's too)
LEVELS: dict[str, tuple[str, ...]] = {
    "certificate_serial": ("exact", "ocr_close", "differs"),
    "registry_number": ("exact", "close", "differs"),
    "parcel_ref": ("exact", "one_differs", "differs"),
    "commune": ("exact", "merged_unit", "differs"),
    "street": ("exact", "similar", "differs"),
    "area": ("exact", "close", "differs"),
    "land_use": ("exact", "overlap", "differs"),
    "residence": ("same_place", "same_ward", "differs"),
    "name": ("exact", "tones_differ", "no_diacritics", "ocr_close", "middle_differs", "given_only", "differs"),
    "birth_year": ("exact", "off_by_one", "differs"),
    "id_number": ("exact", "ocr_close", "not_comparable", "differs"),
}
PARCEL_FIELDS = (
    "certificate_serial",
    "registry_number",
    "parcel_ref",
    "commune",
    "street",
    "area",
    "land_use",
    "residence",
)
PERSON_FIELDS = ("name", "birth_year", "id_number")
# name levels at which the two names are the same name: term-frequency adjusted (a rare name weighs more)
TF_NAME_LEVELS = frozenset({"exact", "tones_differ", "no_diacritics"})

# characters OCR mixes up in codes and numbers, mapped to one representative
_CODE_CONFUSIONS = str.maketrans(
    {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "T": "1", "S": "5", "B": "8", "Z": "2", "G": "6"}
)


def _ocr_code(key: str) -> str:
    return key.translate(_CODE_CONFUSIONS)


def compare_code(scanned: str | None, record: str | None, close_level: str = "ocr_close") -> str | None:
    """Serials and registry numbers as keys (`CS123456`): exact, one OCR slip away, or different."""
    if not scanned or not record:
        return None
    if scanned == record:
        return "exact"
    if _ocr_code(scanned) == _ocr_code(record):
        return close_level
    if len(scanned) == len(record) and Levenshtein.distance(scanned, record) <= 1:
        return close_level
    if DamerauLevenshtein.distance(scanned, record) <= 1 and min(len(scanned), len(record)) >= 6:
        return close_level
    return "differs"


def compare_parcel_ref(
    sheet: int | None, number: int | None, record_sheet: int | None, record_number: int | None
) -> str | None:
    if sheet is None or number is None or record_sheet is None or record_number is None:
        return None
    same_sheet, same_number = sheet == record_sheet, number == record_number
    if same_sheet and same_number:
        return "exact"
    if same_sheet or same_number:
        return "one_differs"
    return "differs"


def compare_commune(
    ward_key: str | None,
    record_code: str | None,
    record_ward_key: str | None,
    exact_codes: frozenset[str] = frozenset(),
    merged_codes: frozenset[str] = frozenset(),
) -> str | None:
    """Does the ward/commune printed on the scan stand for the registry parcel's (legacy) commune code?

    `exact_codes` are the codes the registry's own addresses use with that ward name; `merged_codes` the
    legacy codes a post-2025 unit name (Thuận Hóa) covers, which is weaker evidence than the old name."""
    if not ward_key or (not record_code and not record_ward_key):
        return None
    if (record_ward_key and ward_key == record_ward_key) or (record_code and record_code in exact_codes):
        return "exact"
    if record_code and record_code in merged_codes:
        return "merged_unit"
    return "differs"


def compare_street(scanned: str | None, record_street: str | None) -> str | None:
    """House number and street/village, folded and with abbreviations expanded on both sides."""
    if not scanned or not record_street:
        return None
    if scanned == record_street:
        return "exact"
    if fuzz.token_sort_ratio(scanned, record_street) >= 85:
        return "similar"
    return "differs"


def compare_residence(
    street: str | None, ward_key: str | None, parcel_street: str | None, parcel_ward_key: str | None
) -> str | None:
    """Does the person live on the parcel? (Most people register the land they live on, so an ID card's
    residence tells one parcel of a person with several from another.)"""
    if not street or not parcel_street or not (ward_key or parcel_ward_key):
        return None
    same_ward = ward_key is not None and ward_key == parcel_ward_key
    if (street == parcel_street or fuzz.token_sort_ratio(street, parcel_street) >= 90) and (
        same_ward or ward_key is None or parcel_ward_key is None
    ):
        return "same_place"
    if same_ward:
        return "same_ward"
    return "differs"


def compare_area(scanned: float | None, record: float | None) -> str | None:
    if scanned is None or record is None:
        return None
    diff = abs(scanned - record)
    if diff <= 0.05:
        return "exact"
    # a misread decimal comma (125,4 → 1254) is not "close"; a digit slip or rounding is
    if diff <= max(1.0, 0.02 * record):
        return "close"
    return "differs"


def compare_land_use(scanned: str | None, record: str | None) -> str | None:
    if not scanned or not record:
        return None
    a, b = set(scanned.upper().split("+")), set(record.upper().split("+"))
    if a == b:
        return "exact"
    if a & b:
        return "overlap"
    return "differs"


@lru_cache(maxsize=65536)
def _name_forms(name: str) -> tuple[str, str, str, tuple[str, ...]]:
    """(exact form, tones stripped, folded key, folded tokens) of a name."""
    exact = normalise_tone_placement(clean(name).upper())
    key = name_key(exact)
    return exact, strip_tones(exact), key, tuple(key.split())


def compare_name(scanned: str | None, record: str | None) -> str | None:
    if not scanned or not record:
        return None
    s_exact, s_tone, s_key, s_tokens = _name_forms(scanned)
    r_exact, r_tone, r_key, r_tokens = _name_forms(record)
    if not s_key or not r_key:
        return None
    if s_exact == r_exact:
        return "exact"
    if s_tone == r_tone:
        return "tones_differ"
    if s_key == r_key:
        return "no_diacritics"
    # one slip per ~8 letters: a typo in the registry or an OCR letter error on the scan
    allowed = 1 if len(r_key) < 14 else 2
    if len(s_tokens) == len(r_tokens) and Levenshtein.distance(s_key, r_key) <= allowed:
        return "ocr_close"
    if s_tokens[0] == r_tokens[0] and s_tokens[-1] == r_tokens[-1]:
        return "middle_differs"
    if s_tokens[-1] == r_tokens[-1]:
        return "given_only"
    return "differs"


def compare_birth_year(scanned: int | None, record: int | None) -> str | None:
    if scanned is None or record is None:
        return None
    if scanned == record:
        return "exact"
    if abs(scanned - record) == 1:
        return "off_by_one"
    return "differs"


def compare_id(scanned: tuple[str, ...], record: str | None) -> str | None:
    """Personal numbers: the registry may hold the 12-digit number, the old 9-digit CMND, or nothing.

    A scan that only has a 12-digit number cannot confirm or refute a 9-digit record (`not_comparable`);
    the card's QR usually carries the old number, which then compares directly."""
    if not scanned or not record:
        return None
    if record in scanned:
        return "exact"
    same_length = [s for s in scanned if len(s) == len(record)]
    if not same_length:
        return "not_comparable"
    for s in same_length:
        if Levenshtein.distance(s, record) <= 1 or DamerauLevenshtein.distance(s, record) <= 1:
            return "ocr_close"
    return "differs"
