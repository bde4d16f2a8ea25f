"""Codes from the other stages, in the reader's language: field names, comparison levels, warnings, the
matcher's notes and update reasons, error codes, and values (dates, sex, forms) as they are printed.

The stages speak in stable codes and English sentences for logs; a page shows only the translation. Every
pattern below maps a code (or one of the matcher's fixed sentences) to a message key with its parameters;
`tests/test_review_i18n.py` holds the tables to every code the stages can produce."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

Translate = Callable[..., str]

# --- field names --------------------------------------------------------------------------------------------

_CO_OWNER = re.compile(r"co_owner_(\d+)_(\w+)")


def field_label(t: Translate, name: str) -> str:
    """`owner_name` → "Tên chủ sử dụng"; `co_owner_1_name` → "Đồng sở hữu 2: Họ và tên"; the matcher's
    `map_sheet/parcel_number` → "Tờ bản đồ / thửa đất số"."""
    if m := _CO_OWNER.fullmatch(name):
        return t("co_owner_field", n=int(m.group(1)) + 1, field=field_label(t, m.group(2)))
    return t("f_" + name.replace("/", "_"), default=t("unknown_code", code=name))


def agreement_label(t: Translate, level: str | None) -> str:
    return t(f"agree_{level or 'missing'}", default=t("unknown_code", code=level))


# --- warnings -------------------------------------------------------------------------------------------------

# warnings that say two documents of one submission contradict each other: a person must look
CONFLICT_WARNINGS = frozenset(
    {
        "id_number_mismatch_between_cards",
        "old_id_number_mismatch",
        "owner_id_not_on_card",
        "certificate_form_differs_between_pages",
        "front_back_mismatch",
    }
)
_VALUES = re.compile(r"'([^']*)'|\"([^\"]*)\"|(\d[\d.,/\-]*(?:\s?m²)?)")
_WARNING_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"split:(?P<n>\d+)_cards"), "split_cards"),
    (re.compile(r"split:(?P<n>\d+)_pages"), "split_pages"),
    (re.compile(r"owner_(?P<n>\d+)_id_number_structure"), "owner_id_number_structure"),
    (re.compile(r"owner_(?P<n>\d+)_id_sex_mismatch"), "owner_id_sex_mismatch"),
    (re.compile(r"owner_(?P<n>\d+)_id_birth_year_mismatch"), "owner_id_birth_year_mismatch"),
    (re.compile(r"(?P<field>[a-z_]+?)_front_back_mismatch"), "front_back_mismatch"),
    (re.compile(r"(?P<field>[a-z_]+?)_qr_mismatch"), "qr_mismatch"),
    # validate.enforce_field_types: a value that cannot be of its field's type was dropped
    (re.compile(r"(?P<field>[a-z_]+?)_invalid"), "field_invalid"),
    # validate.disagreement: two readers of one field disagree (`full_name_mismatch: qr says ..`)
    (re.compile(r"(?P<field>[a-z_]+?)_mismatch"), "sources_disagree"),
)


@dataclass(frozen=True)
class WarningView:
    code: str  # the stable code (`quality:glare`, `front_back_mismatch` ...)
    label: str  # in the reader's language
    values: tuple[str, ...]  # the values the warning names (quoted strings, numbers, dates), as printed
    conflict: bool  # two documents of the submission disagree


def _classify(head: str, known: Callable[[str], bool]) -> tuple[str, dict[str, str]]:
    if known("warn_" + head.replace(":", "_")):
        return head, {}
    for pattern, code in _WARNING_PATTERNS:
        if m := pattern.fullmatch(head):
            return code, m.groupdict()
    return head, {}


def warning_code(warning: str, known: Callable[[str], bool]) -> str:
    """The stable code of a warning string (`full_name_front_back_mismatch: front says ...` → the generic
    `front_back_mismatch`; `quality:glare` stays itself). `known` says whether a message key exists."""
    return _classify(warning.split(": ", 1)[0].strip(), known)[0]


def warning_view(t: Translate, warning: str, known: Callable[[str], bool]) -> WarningView:
    head, _, detail = warning.partition(": ")
    code, params = _classify(head.strip(), known)
    if "field" in params:
        params["field"] = field_label(t, params["field"])
    label = t("warn_" + code.replace(":", "_"), default=t("unknown_code", code=head.strip()), **params)
    values = tuple(v for m in _VALUES.finditer(detail) if (v := next(g for g in m.groups() if g is not None)))
    return WarningView(code, label, values, code in CONFLICT_WARNINGS)


# --- the matcher's notes and update reasons --------------------------------------------------------------------

_NOTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"registry parcel is (?P<status>\w+)(?: \(now (?P<successors>.+?)\))?: the certificate predates the "
            r"change; decide which current parcel the update belongs to"
        ),
        "note_parcel_status",
    ),
    (re.compile(r"parcel was created from (?P<parcels>.+) \(split or merge\)"), "note_derived_from"),
    (
        re.compile(
            r"this owner also holds (?P<n>\d+) other candidate parcel\(s\) \((?P<parcels>.+)\); only parcel "
            r"fields can tell them apart"
        ),
        "note_same_owner",
    ),
    (
        re.compile(
            r"scored exactly as (?P<n>\d+) other candidate\(s\) \((?P<parcels>.+)\): the scans cannot tell them "
            r"apart, so the confidence is shared between them"
        ),
        "note_tied",
    ),
    (re.compile(r"registry text was repaired from a legacy encoding on import \((?P<how>.+)\)"), "note_repaired"),
    (re.compile(r"found by a reviewer's registry search \((?P<query>.*)\)"), "note_found_by_search"),
)
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"registry name was in a legacy encoding \((?P<how>.+)\)"), "reason_legacy_encoding"),
    (re.compile(r"registry name has no diacritics|diacritics"), "reason_name_no_diacritics"),
    (re.compile(r"registry name differs from the \(verified\) scanned name"), "reason_name_differs"),
    (re.compile(r"registry has no personal number|missing_in_registry"), "reason_missing_in_registry"),
    (re.compile(r"old 9-digit CMND → 12-digit personal number"), "reason_cmnd_to_cccd"),
    (re.compile(r"registry number differs by one digit from the verified card"), "reason_id_one_digit"),
    (re.compile(r"registry has no birth year"), "reason_no_birth_year"),
    (re.compile(r"registry birth year off by one"), "reason_birth_year_off_by_one"),
    (re.compile(r"registry has no certificate serial"), "reason_no_serial"),
    (re.compile(r"registry has no registry number"), "reason_no_registry_number"),
    (re.compile(r"reviewer_correction"), "reason_reviewer_correction"),
)


def _translated(t: Translate, text: str, table: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, key in table:
        if m := pattern.fullmatch(text.strip()):
            params = m.groupdict()
            if params.get("status"):
                params["status"] = t("parcel_status_" + params["status"], default=params["status"])
            if "successors" in params:
                params["successors"] = params["successors"] or "–"
            if "how" in params:
                params["how"] = params["how"].replace("utf8_double", "UTF-8").replace("tcvn3", "TCVN3").upper()
            return t(key, **params)
    return None


def note_label(t: Translate, note: str) -> str:
    """A matcher note in the reader's language (an unforeseen sentence is shown with a marker, not hidden)."""
    return _translated(t, note, _NOTES) or t("untranslated", text=note)


def reason_label(t: Translate, reason: str | None) -> str:
    if not reason:
        return ""
    return _translated(t, reason, _REASONS) or t("untranslated", text=reason)


def error_label(t: Translate, code: str) -> str:
    """What a stable error code means for the person who sent the file, and what to do."""
    return t("err_" + code, default=t("unknown_code", code=code))


# --- values as printed --------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ENUM_FIELDS = ("sex", "card_generation", "certificate_form", "id_type")


def display_value(t: Translate, name: str, value: Any) -> str:
    """A stored value the way the document prints it: dates day first, sex and forms in words, decimals with
    the reader's separator. Text values are shown exactly as read."""
    if value is None or value == "":
        return "–"
    field = _CO_OWNER.sub(r"\2", name)
    if isinstance(value, str) and (m := _ISO_DATE.fullmatch(value)):
        return f"{m.group(3)}/{m.group(2)}/{m.group(1)}"
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if field in _ENUM_FIELDS:
        return t(f"val_{field}_{value}", default=str(value))
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
        return text.replace(".", t("decimal_separator"))
    if isinstance(value, list):
        return "; ".join(display_value(t, name, v) for v in value)
    return str(value)


def display_name(value: str | None) -> str | None:
    """A person's name in the registry's letter case: a name printed in capitals (ID cards, most certificates)
    becomes `Nguyễn Thị Dung`; a name already in mixed case is kept as it is."""
    if not value:
        return value
    if value != value.upper():
        return value
    return " ".join(word[:1].upper() + word[1:].lower() for word in value.split())
