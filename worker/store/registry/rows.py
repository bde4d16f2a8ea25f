"""One raw registry row (CSV contract order) to the parcel and owner tuples the loader writes: numbers
parsed, codes cleaned, legacy encodings repaired, lookup keys derived (worker.keys)."""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from models.registry import REGISTRY_CSV_COLUMNS
from worker.keys import address_key, commune_key, id_digits, name_keys, registry_key, serial_digits, serial_key
from worker.store.registry.report import ImportReport
from worker.store.registry.tables import EXPORT_PARCEL_COLUMNS, OPTIONAL_COLUMNS, PARCEL_STATUSES
from worker.vntext import clean, clean_repaired

ProgressFn = Callable[[int], Any]
# (physical line number of the chunk's first line, the chunk's bytes: whole CSV records), or for the XML
# exchange (0, [(record number, row in XML_HEADER order), ...])
RawChunk = tuple[int, bytes | list[tuple[int, list[str]]]]


@lru_cache(maxsize=262144)
def _name_value(raw: str, prefer: str | None, assume: bool) -> tuple[str, str | None]:
    """Names repeat a lot (a few hundred thousand distinct in a city): cache the whole normalisation."""
    return clean_repaired(raw, prefer, assume, is_name=True)


_text_value = clean_repaired


def _int(value: str, lo: int, hi: int) -> int | None:
    if not value:
        return None
    if value.isdigit():
        number = int(value)
    else:
        value = value.strip()
        if not value:
            return None
        try:
            number = int(float(value.replace(",", ".")))
        except ValueError:
            raise ValueError("not a number") from None
    if not lo <= number <= hi:
        raise ValueError("out of range")
    return number


def _area(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    # `125,4` (Vietnamese decimal comma) and `1.250,4` (dot thousands) both occur in exports
    if "," in value:
        value = value.replace(".", "").replace(",", ".")
    number = float(value)
    if number <= 0 or number > 1e8:
        raise ValueError("out of range")
    return number


def _id_list(value: str | None) -> str | None:
    if not value:
        return None
    ids = [p.strip() for p in re.split(r"[;|]", value) if p.strip()]
    return ";".join(ids) or None


class Row(NamedTuple):
    """One normalised CSV row (a tuple: rows cross process boundaries by the million, and a dataclass
    pickles several times slower)."""

    parcel: tuple[Any, ...]
    owner: tuple[Any, ...] | None
    repaired: dict[str, str]


class RowError(Exception):
    pass


class Columns:
    """Positions of the known columns in this file's header (absent optional columns read as '')."""

    def __init__(self, header: list[str]) -> None:
        self.width = len(header)
        names = (*REGISTRY_CSV_COLUMNS, *OPTIONAL_COLUMNS)
        self.index = {name: header.index(name) if name in header else None for name in names}


# the raw columns a parcel is built from: two rows with the same values share one parcel tuple
_PARCEL_SOURCE = (*EXPORT_PARCEL_COLUMNS, *OPTIONAL_COLUMNS)


def _code(value: str) -> str | None:
    """Codes and numbers: ASCII in practice, so skip the Unicode work when possible."""
    if not value:
        return None
    if value.isascii():
        return value.strip() if "  " not in value else " ".join(value.split())
    return clean(value) or None


def _parcel_builder(
    idx: dict[str, int], warn: Counter[str]
) -> Callable[[list[str], str | None, str | None], tuple[Any, ...]]:
    """The parcel tuple (PARCEL_COLUMNS order, without import_id) of one raw row, its columns by position."""
    i_pid, i_sheet, i_number, i_area = idx["parcel_id"], idx["map_sheet_number"], idx["parcel_number"], idx["area_m2"]
    i_commune, i_serial, i_regno, i_use = (
        idx["commune_code"],
        idx["certificate_serial"],
        idx["registry_number"],
        idx["land_use_code"],
    )
    i_status, i_sup, i_der = idx["status"], idx["superseded_by"], idx["derived_from"]

    def parcel_of(row: list[str], address: str | None, address_repair: str | None) -> tuple[Any, ...]:
        try:
            sheet = _int(row[i_sheet], 0, 100000)
        except ValueError:
            sheet = None
            warn["map_sheet_number not a number (stored empty)"] += 1
        try:
            number = _int(row[i_number], 0, 10000000)
        except ValueError:
            number = None
            warn["parcel_number not a number (stored empty)"] += 1
        try:
            area = _area(row[i_area])
        except ValueError:
            area = None
            warn["area_m2 not a number (stored empty)"] += 1
        commune = row[i_commune].strip() or None
        if commune and not commune.isdigit():
            warn["commune_code not numeric"] += 1
        serial = _code(row[i_serial])
        regno = _code(row[i_regno])
        status = row[i_status].strip().lower() or "active"
        if status not in PARCEL_STATUSES:
            warn[f"unknown status {status!r} (stored as given)"] += 1
        skey = serial_key(serial)
        return (
            row[i_pid].strip(),
            commune,
            sheet,
            number,
            address,
            area,
            _code(row[i_use]),
            serial,
            regno,
            skey,
            serial_digits(skey),
            registry_key(regno),
            commune_key(address) if address else None,
            address_key(address),
            status,
            _id_list(row[i_sup]),
            _id_list(row[i_der]),
            address_repair,
        )

    return parcel_of


def _texts(raw_name: str, raw_addr: str, raw_oaddr: str, prefer: str | None) -> tuple[str, str, str, dict[str, str]]:
    """(owner name, address, owner address, {column: legacy encoding repaired}) of one row."""
    repaired: dict[str, str] = {}
    # the first pass ignores the file's preferred encoding so the name cache keys on the name alone
    name, enc = _name_value(raw_name, None, False) if raw_name else ("", None)
    if enc:
        repaired["owner_name"] = enc
    address, enc = _text_value(raw_addr, prefer, False) if raw_addr else ("", None)
    if enc:
        repaired["address"] = enc
    if raw_oaddr == raw_addr:
        owner_address = address
        if enc:
            repaired["owner_address"] = enc
    else:
        owner_address, enc = _text_value(raw_oaddr, prefer, False) if raw_oaddr else ("", None)
        if enc:
            repaired["owner_address"] = enc
    if repaired:
        # a row typed in one legacy encoding is usually typed in it throughout: values whose mis-decoded
        # form happens to look like valid Vietnamese (TCVN3 `Dòng` for `Dũng`) are decoded the same way
        encoding = Counter(repaired.values()).most_common(1)[0][0]
        for column, value in (("owner_name", raw_name), ("address", raw_addr), ("owner_address", raw_oaddr)):
            if column not in repaired and value and not value.isascii():
                text_value, enc = _text_value(value, encoding, True)
                if enc:
                    repaired[column] = enc
                    if column == "owner_name":
                        name = text_value
                    elif column == "address":
                        address = text_value
                    else:
                        owner_address = text_value
    return name, address, owner_address, repaired


def _birth_year(raw_year: str, warn: Counter[str]) -> int | None:
    if raw_year.isdigit() and 1880 <= int(raw_year) <= 2030:
        return int(raw_year)
    try:
        return _int(raw_year, 1880, 2030)
    except ValueError:
        warn["owner_birth_year not a year (stored empty)"] += 1
        return None


def make_normaliser(columns: Columns, report: ImportReport) -> Callable[[list[str], str | None], Row]:
    """A function from one raw CSV row to (parcel tuple, owner tuple, repairs). The hot loop of an import:
    columns are read by position (a missing optional column reads the "" appended to every row), and a
    co-owner row repeating its parcel's columns reuses the parcel already built."""
    missing = columns.width  # index of the "" appended to each row
    idx = {name: (i if i is not None else missing) for name, i in columns.index.items()}
    i_pid, i_name, i_addr, i_oaddr = idx["parcel_id"], idx["owner_name"], idx["address"], idx["owner_address"]
    i_year, i_id = idx["owner_birth_year"], idx["owner_id_number"]
    raw_parcel_of = operator.itemgetter(*(idx[c] for c in _PARCEL_SOURCE))
    warn = report.warnings
    parcel_of = _parcel_builder(idx, warn)
    last: list[Any] = [None, None, None]  # raw parcel columns, parcel tuple, address repair

    def normalise(row: list[str], prefer: str | None) -> Row:
        row.append("")
        parcel_id = row[i_pid].strip()
        if not parcel_id:
            raise RowError("missing parcel_id")
        if len(parcel_id) > 64:
            raise RowError("parcel_id longer than 64 characters")
        name, address, owner_address, repaired = _texts(row[i_name], row[i_addr], row[i_oaddr], prefer)
        raw_parcel = raw_parcel_of(row)
        address_repair = repaired.get("address")
        if last[0] == raw_parcel and last[2] == address_repair:
            parcel = last[1]
        else:
            parcel = parcel_of(row, address or None, address_repair)
            last[0], last[1], last[2] = raw_parcel, parcel, address_repair
        raw_id = row[i_id]
        id_number = raw_id if raw_id.isdigit() else id_digits(raw_id)
        birth_year = _birth_year(row[i_year], warn)
        if not (name or id_number or birth_year or owner_address):
            return Row(parcel, None, repaired)
        if id_number and len(id_number) not in (9, 12):
            warn["owner_id_number not 9 or 12 digits"] += 1
        name_key, given_key = name_keys(name) if name else ("", "")
        owner_repaired = (
            ",".join(sorted({v for k, v in repaired.items() if k != "address"})) or None if repaired else None
        )
        owner = (
            name or None,
            name_key or None,
            given_key or None,
            birth_year,
            id_number,
            owner_address or None,
            (parcel[13] if owner_address == address else address_key(owner_address)) if owner_address else None,
            owner_repaired,
        )
        return Row(parcel, owner, repaired)

    return normalise
