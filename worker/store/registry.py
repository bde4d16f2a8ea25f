"""The registry (VBDLIS export): parcel, owner and certificate tables, the CSV importer, candidate lookups.

Import is built for Huế scale (about 1.12 million parcels): rows stream from the CSV in batches through
DBAPI `executemany` (SQLite) or `COPY` (PostgreSQL), never ORM objects. A first import into empty tables
loads straight into them and builds the secondary indexes afterwards; a re-import goes through staging
tables and an upsert keyed on a per-row content hash, so it is idempotent and reports what changed.

Every text value is checked for legacy Vietnamese encodings (TCVN3, VNI, UTF-8 decoded twice) and repaired;
the repair is recorded on the row (`repaired`) and counted in the report."""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import multiprocessing
import operator
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import JSON, DateTime, Engine, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.errors import ErrorCode
from models.registry import REGISTRY_CSV_COLUMNS, OwnerRecord, ParcelRecord
from worker.errors import IntakeError
from worker.store.db import Base
from worker.vntext import clean, clean_repaired, commune_name_key, fold, street_part

log = logging.getLogger(__name__)

# Optional columns beyond the contract: how a parcel was superseded (split/merged after its certificate
# was issued). `superseded_by` / `derived_from` hold parcel_ids separated by `;`.
OPTIONAL_COLUMNS: tuple[str, ...] = ("status", "superseded_by", "derived_from")
PARCEL_STATUSES = frozenset({"active", "superseded", "split", "merged", "retired"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryParcel(Base):
    __tablename__ = "registry_parcels"

    parcel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    commune_code: Mapped[str | None] = mapped_column(String(10))
    map_sheet_number: Mapped[int | None] = mapped_column(Integer)
    parcel_number: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(Text)
    area_m2: Mapped[float | None] = mapped_column(Float)
    land_use_code: Mapped[str | None] = mapped_column(String(40))
    certificate_serial: Mapped[str | None] = mapped_column(String(40))
    registry_number: Mapped[str | None] = mapped_column(String(40))
    # derived keys for candidate lookups
    serial_key: Mapped[str | None] = mapped_column(String(40))
    # the digits of the serial alone: finds a certificate whose series letters were misread
    serial_number: Mapped[str | None] = mapped_column(String(20))
    registry_key: Mapped[str | None] = mapped_column(String(40))
    commune_key: Mapped[str | None] = mapped_column(String(80))  # ward/commune name in the address, folded
    # house number and street, folded (see address_key): an ID card's residence finds the parcel lived on
    address_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    superseded_by: Mapped[str | None] = mapped_column(Text)
    derived_from: Mapped[str | None] = mapped_column(Text)
    repaired: Mapped[str | None] = mapped_column(String(60))  # legacy encodings repaired on import
    import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_registry_parcels_serial_key", "serial_key"),
        Index("ix_registry_parcels_serial_number", "serial_number"),
        Index("ix_registry_parcels_registry_key", "registry_key"),
        Index("ix_registry_parcels_ref", "map_sheet_number", "parcel_number", "commune_code"),
        Index("ix_registry_parcels_address_key", "address_key"),
    )


class RegistryOwner(Base):
    __tablename__ = "registry_owners"

    owner_id: Mapped[str] = mapped_column(String(80), primary_key=True)  # f"{parcel_id}:{1-based index}"
    parcel_id: Mapped[str] = mapped_column(String(64))
    owner_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(Text)
    name_key: Mapped[str | None] = mapped_column(String(120))
    given_key: Mapped[str | None] = mapped_column(String(40))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    id_number: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(Text)
    address_key: Mapped[str | None] = mapped_column(String(200))
    repaired: Mapped[str | None] = mapped_column(String(60))
    import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_registry_owners_parcel_id", "parcel_id"),
        Index("ix_registry_owners_address_key", "address_key"),
        Index("ix_registry_owners_name_year", "name_key", "birth_year"),
        # for name-prefix lookups within a birth year (a typo in the given name)
        Index("ix_registry_owners_year_name", "birth_year", "name_key"),
        # for a misread surname or middle name: the same given name and birth year
        Index("ix_registry_owners_given_year", "given_key", "birth_year", "name_key"),
        Index("ix_registry_owners_id_number", "id_number"),
    )


class RegistryTermFrequency(Base):
    """How often a name (or given name) occurs among registry owners: rare names weigh more in matching."""

    __tablename__ = "registry_term_freq"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "name" | "given"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class RegistryCommuneName(Base):
    """Which legacy commune codes a ward/commune name in parcel addresses stands for (learned on import:
    after the 2025 mergers one new name covers several old codes)."""

    __tablename__ = "registry_commune_names"

    name_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    commune_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class RegistryImport(Base):
    __tablename__ = "registry_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


PARCEL_COLUMNS: tuple[str, ...] = (
    "parcel_id",
    "commune_code",
    "map_sheet_number",
    "parcel_number",
    "address",
    "area_m2",
    "land_use_code",
    "certificate_serial",
    "registry_number",
    "serial_key",
    "serial_number",
    "registry_key",
    "commune_key",
    "address_key",
    "status",
    "superseded_by",
    "derived_from",
    "repaired",
    "import_id",
)
OWNER_COLUMNS: tuple[str, ...] = (
    "owner_id",
    "parcel_id",
    "owner_index",
    "name",
    "name_key",
    "given_key",
    "birth_year",
    "id_number",
    "address",
    "address_key",
    "repaired",
    "import_id",
)


# --- the report ---------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    source: str
    rows_read: int = 0
    rows_skipped: int = 0
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    skipped_examples: list[tuple[int, str]] = field(default_factory=list)  # (CSV line, reason), first 20
    parcels_inserted: int = 0
    parcels_updated: int = 0
    parcels_unchanged: int = 0
    owners_inserted: int = 0
    owners_updated: int = 0
    owners_unchanged: int = 0
    owners_removed: int = 0
    encodings_repaired: Counter[str] = field(default_factory=Counter)  # encoding -> values repaired
    rows_repaired: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    file_encoding: str = "utf-8"
    bulk_load: bool = False  # True when the tables were empty and loaded directly
    seconds: float = 0.0
    import_id: int | None = None
    position: str = "line"  # what skipped_examples count: CSV lines, or DC_ThuaDat records of an XML file

    @property
    def rows_inserted(self) -> int:
        return self.owners_inserted

    @property
    def rows_updated(self) -> int:
        return self.owners_updated

    def skip(self, line: int, reason: str) -> None:
        self.rows_skipped += 1
        self.skipped_reasons[reason] += 1
        if len(self.skipped_examples) < 20:
            self.skipped_examples.append((line, reason))

    def summary(self) -> str:
        parts = [
            f"{self.rows_read} rows read in {self.seconds:.1f} s",
            f"parcels: {self.parcels_inserted} new, {self.parcels_updated} updated, {self.parcels_unchanged} unchanged",
            f"owners: {self.owners_inserted} new, {self.owners_updated} updated, {self.owners_unchanged} unchanged"
            + (f", {self.owners_removed} removed" if self.owners_removed else ""),
            f"skipped: {self.rows_skipped}"
            + (
                " (" + ", ".join(f"{r}: {n}" for r, n in self.skipped_reasons.most_common()) + ")"
                if self.rows_skipped
                else ""
            ),
        ]
        if self.skipped_examples:
            parts.append(
                "first skipped: "
                + "; ".join(f"{self.position} {line}: {reason}" for line, reason in self.skipped_examples[:5])
            )
        if self.encodings_repaired:
            parts.append(
                f"legacy encodings repaired in {self.rows_repaired} rows ("
                + ", ".join(f"{k}: {n} values" for k, n in self.encodings_repaired.most_common())
                + ")"
            )
        if self.warnings:
            parts.append("warnings: " + ", ".join(f"{w}: {n}" for w, n in self.warnings.most_common()))
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_skipped": self.rows_skipped,
            "skipped_reasons": dict(self.skipped_reasons),
            "skipped_examples": self.skipped_examples,
            "parcels_inserted": self.parcels_inserted,
            "parcels_updated": self.parcels_updated,
            "parcels_unchanged": self.parcels_unchanged,
            "owners_inserted": self.owners_inserted,
            "owners_updated": self.owners_updated,
            "owners_unchanged": self.owners_unchanged,
            "owners_removed": self.owners_removed,
            "encodings_repaired": dict(self.encodings_repaired),
            "rows_repaired": self.rows_repaired,
            "warnings": dict(self.warnings),
            "file_encoding": self.file_encoding,
            "position": self.position,
            "bulk_load": self.bulk_load,
            "seconds": round(self.seconds, 3),
        }


# --- value normalisation ------------------------------------------------------------------------------

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
def _name_value(raw: str, prefer: str | None, assume: bool) -> tuple[str, str | None]:
    """Names repeat a lot (a few hundred thousand distinct in a city): cache the whole normalisation."""
    return clean_repaired(raw, prefer, assume, is_name=True)


_text_value = clean_repaired


@lru_cache(maxsize=262144)
def _name_keys(name: str) -> tuple[str, str]:
    key = " ".join(fold(name).upper().split())
    return key, key.rsplit(" ", 1)[-1] if key else ""


@lru_cache(maxsize=65536)
def _ward_key(part: str) -> str | None:
    return commune_name_key(part)


def _commune_key(address: str) -> str | None:
    # the ward part (`P. Vĩnh Ninh`) repeats across a city while the house part does not: cache on the part
    for part in address.split(","):
        key = _ward_key(part.strip())
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


class _Row(NamedTuple):
    """One normalised CSV row (a tuple: rows cross process boundaries by the million, and a dataclass
    pickles several times slower)."""

    parcel: tuple[Any, ...]
    owner: tuple[Any, ...] | None
    repaired: dict[str, str]


class _RowError(Exception):
    pass


class _Columns:
    """Positions of the known columns in this file's header (absent optional columns read as '')."""

    def __init__(self, header: list[str]) -> None:
        self.width = len(header)
        names = (*REGISTRY_CSV_COLUMNS, *OPTIONAL_COLUMNS)
        self.index = {name: header.index(name) if name in header else None for name in names}

    def getter(self, name: str) -> Callable[[list[str]], str]:
        i = self.index[name]
        if i is None:
            return lambda row: ""
        return lambda row: row[i]


_PARCEL_SOURCE = (
    "parcel_id",
    "commune_code",
    "map_sheet_number",
    "parcel_number",
    "address",
    "area_m2",
    "land_use_code",
    "certificate_serial",
    "registry_number",
    "status",
    "superseded_by",
    "derived_from",
)


def _code(value: str) -> str | None:
    """Codes and numbers: ASCII in practice, so skip the Unicode work when possible."""
    if not value:
        return None
    if value.isascii():
        return value.strip() if "  " not in value else " ".join(value.split())
    return clean(value) or None


def _make_normaliser(columns: _Columns, report: ImportReport) -> Callable[[list[str], str | None], _Row]:
    """A function from one raw CSV row to (parcel tuple, owner tuple, repairs). The hot loop of an import:
    columns are read by position (a missing optional column reads the "" appended to every row), and a
    co-owner row repeating its parcel's columns reuses the parcel already built."""
    missing = columns.width  # index of the "" appended to each row
    idx = {name: (i if i is not None else missing) for name, i in columns.index.items()}
    i_pid, i_name, i_addr, i_oaddr = idx["parcel_id"], idx["owner_name"], idx["address"], idx["owner_address"]
    i_sheet, i_number, i_area = idx["map_sheet_number"], idx["parcel_number"], idx["area_m2"]
    i_commune, i_serial, i_regno, i_use = (
        idx["commune_code"],
        idx["certificate_serial"],
        idx["registry_number"],
        idx["land_use_code"],
    )
    i_year, i_id = idx["owner_birth_year"], idx["owner_id_number"]
    i_status, i_sup, i_der = idx["status"], idx["superseded_by"], idx["derived_from"]
    raw_parcel_of = operator.itemgetter(*(idx[c] for c in _PARCEL_SOURCE))
    warn = report.warnings
    last: list[Any] = [None, None, None]  # raw parcel columns, parcel tuple, address repair

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
            _commune_key(address) if address else None,
            address_key(address),
            status,
            _id_list(row[i_sup]),
            _id_list(row[i_der]),
            address_repair,
        )

    def normalise(row: list[str], prefer: str | None) -> _Row:
        row.append("")
        parcel_id = row[i_pid].strip()
        if not parcel_id:
            raise _RowError("missing parcel_id")
        if len(parcel_id) > 64:
            raise _RowError("parcel_id longer than 64 characters")
        raw_name, raw_addr, raw_oaddr = row[i_name], row[i_addr], row[i_oaddr]
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
        raw_parcel = raw_parcel_of(row)
        address_repair = repaired.get("address")
        if last[0] == raw_parcel and last[2] == address_repair:
            parcel = last[1]
        else:
            parcel = parcel_of(row, address or None, address_repair)
            last[0], last[1], last[2] = raw_parcel, parcel, address_repair
        raw_id = row[i_id]
        id_number = raw_id if raw_id.isdigit() else id_digits(raw_id)
        raw_year = row[i_year]
        if raw_year.isdigit() and 1880 <= int(raw_year) <= 2030:
            birth_year: int | None = int(raw_year)
        else:
            try:
                birth_year = _int(raw_year, 1880, 2030)
            except ValueError:
                birth_year = None
                warn["owner_birth_year not a year (stored empty)"] += 1
        if not (name or id_number or birth_year or owner_address):
            return _Row(parcel, None, repaired)
        if id_number and len(id_number) not in (9, 12):
            warn["owner_id_number not 9 or 12 digits"] += 1
        name_key, given_key = _name_keys(name) if name else ("", "")
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
        return _Row(parcel, owner, repaired)

    return normalise


# --- reading the file -----------------------------------------------------------------------------------


def _detect_file_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the file decodes as such, else cp1252: legacy exports are 8-bit,
    and their TCVN3/VNI bytes then arrive as Latin-1 look-alikes that the per-value repair understands."""
    with path.open("rb") as fh:
        head = fh.read(4 << 20)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the 4 MB boundary
            return "cp1252"
    return "utf-8"


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; keep them as their Latin-1 code points so that a value holding
    # UTF-8 decoded twice can still be repaired byte for byte
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error("intake_latin1", _latin1_fallback)

ProgressFn = Callable[[int], Any]
# (physical line number of the chunk's first line, the chunk's bytes: whole CSV records), or for the XML
# exchange (0, [(record number, row in _XML_HEADER order), ...])
RawChunk = tuple[int, bytes | list[tuple[int, list[str]]]]


@dataclass
class _BatchResult:
    # (line, parcel tuple, owner tuple or None): plain tuples, since they are pickled back from the workers by
    # the million and unpickling was a fifth of the importing process's CPU time
    rows: list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]]
    rows_read: int
    skipped: list[tuple[int, str]]
    warnings: Counter[str]
    repaired: Counter[str]
    rows_repaired: int


class _ChunkNormaliser:
    """Parses and normalises chunks of the CSV; runs in the importing process or in worker processes, so
    the importing process only reads bytes and writes the database."""

    def __init__(self, header: list[str], encoding: str) -> None:
        self.report = ImportReport(source="")
        self.columns = _Columns(header)
        self.width = len(header)
        self.encoding = encoding
        self.errors = "strict" if encoding.startswith("utf-8") else "intake_latin1"
        self.prefer: str | None = None
        self.seen_encodings: Counter[str] = Counter()

    def __call__(self, chunk: RawChunk) -> _BatchResult:
        first_line, data = chunk
        normalise = _make_normaliser(self.columns, self.report)
        out: list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]] = []
        skipped: list[tuple[int, str]] = []
        repaired: Counter[str] = Counter()
        rows_read = rows_repaired = 0
        numbered: Iterable[tuple[int, list[str]]]
        if isinstance(data, bytes):
            reader = csv.reader(io.StringIO(data.decode(self.encoding, self.errors), newline=""))
            numbered = ((first_line + reader.line_num - 1, row) for row in reader)
        else:
            numbered = data
        width = self.width
        for line, row in numbered:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines are not rows
            rows_read += 1
            if len(row) != width:
                skipped.append((line, f"{len(row)} columns, header has {width}"))
                continue
            try:
                normalised = normalise(row, self.prefer)
            except _RowError as exc:
                skipped.append((line, str(exc)))
                continue
            if normalised.repaired:
                rows_repaired += 1
                repaired.update(normalised.repaired.values())
                self.seen_encodings.update(normalised.repaired.values())
                # ties between decoders go to the encoding this file has used so far
                self.prefer = self.seen_encodings.most_common(1)[0][0]
            out.append((line, normalised.parcel, normalised.owner))
        warnings = self.report.warnings
        self.report.warnings = Counter()
        return _BatchResult(out, rows_read, skipped, warnings, repaired, rows_repaired)


_WORKER: _ChunkNormaliser | None = None


def _worker_init(header: list[str], encoding: str) -> None:
    global _WORKER
    _WORKER = _ChunkNormaliser(header, encoding)


def _worker_run(chunk: RawChunk) -> _BatchResult:
    assert _WORKER is not None
    return _WORKER(chunk)


def _raw_chunks(fh: Any, first_line: int, chunk_bytes: int) -> Iterator[RawChunk]:
    """Whole CSV records in chunks of about `chunk_bytes`: cut at a line end outside any quoted field (an
    even number of quote characters so far), so a field with a line break in it stays in one chunk."""
    line = first_line
    pending = b""
    while True:
        block = fh.read(chunk_bytes)
        if not block:
            break
        data = pending + block
        cut = data.rfind(b"\n") + 1
        while cut > 0 and data.count(b'"', 0, cut) % 2:
            cut = data.rfind(b"\n", 0, cut - 1) + 1
        if cut <= 0:
            pending = data  # one record longer than a block: read on
            continue
        chunk, pending = data[:cut], data[cut:]
        yield line, chunk
        line += chunk.count(b"\n")
    if pending.strip():
        yield line, pending


def _read_rows(
    path: Path, report: ImportReport, progress: ProgressFn | None, batch_size: int, workers: int
) -> Iterator[list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]]]:
    if _is_xml(path):
        report.position = "record"
        report.file_encoding = "xml"
        normaliser = _ChunkNormaliser(list(_XML_HEADER), "utf-8")
        for chunk in _xml_chunks(path, report, batch_size):
            result = normaliser(chunk)
            _account(report, result)
            yield result.rows
            if progress:
                progress(report.rows_read)
        return
    encoding = _detect_file_encoding(path)
    report.file_encoding = encoding
    errors = "strict" if encoding.startswith("utf-8") else "intake_latin1"
    with path.open("rb") as fh:
        head = fh.readline()
        try:
            header_text = head.decode(encoding, errors)
        except UnicodeDecodeError:
            raise IntakeError(ErrorCode.UNSUPPORTED_FORMAT, f"{path.name}: the header is not text") from None
        header = [h.strip().lower() for h in next(csv.reader([header_text]), [])]
        if not header:
            raise IntakeError(ErrorCode.EMPTY_FILE, f"{path.name}: empty registry file")
        missing = [c for c in REGISTRY_CSV_COLUMNS if c not in header]
        if "parcel_id" in missing:
            raise IntakeError(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"{path.name}: not a registry export (no parcel_id column; expected header {','.join(REGISTRY_CSV_COLUMNS)})",
            )
        for column in missing:
            report.warnings[f"column {column} missing from the header"] += 1
        # about batch_size rows per chunk (registry rows are ~250 bytes)
        chunks = _raw_chunks(fh, 2, batch_size * 256)
        pool = None
        in_flight = threading.BoundedSemaphore(2 * workers + 1)
        if workers >= 1:
            # spawn, not fork: the importing process may hold database connections and threads
            pool = multiprocessing.get_context("spawn").Pool(workers, _worker_init, (header, encoding))

            def throttled() -> Iterator[RawChunk]:
                # Pool.imap reads its input as fast as it can: without a bound the whole file would be
                # queued in memory ahead of the workers
                for chunk in chunks:
                    in_flight.acquire()
                    yield chunk

            results: Iterable[_BatchResult] = pool.imap(_worker_run, throttled())
        else:
            results = map(_ChunkNormaliser(header, encoding), chunks)
        try:
            for result in results:
                if pool is not None:
                    in_flight.release()
                _account(report, result)
                yield result.rows
                if progress:
                    progress(report.rows_read)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()


def _account(report: ImportReport, result: _BatchResult) -> None:
    report.rows_read += result.rows_read
    for line, reason in result.skipped:
        report.skip(line, reason)
    report.warnings.update(result.warnings)
    report.encodings_repaired.update(result.repaired)
    report.rows_repaired += result.rows_repaired


# --- the VBDLIS XML exchange ------------------------------------------------------------------------------
#
# <DC_ThuaDat> elements (anywhere, any namespace) become rows of the CSV contract, one per <DC_CaNhan> owner
# (one row without an owner when there is none), and go through the same normalisation, repair and loading as
# a CSV export. Field names follow VBDLIS (domain reference §3); a value may be a child element or an
# attribute. Parcel: thuaDatId/maThuaDat (the parcel_id), maXa/xaId (legacy commune code), soHieuToBanDo,
# soThuTuThua, dienTich, mucDichSuDung, trangThai, thuaDatMoi/thuaDatGoc (successors/origin, `;`-separated),
# <DC_DiaChi> (diaChiChiTiet, or soNha + tenDuong + tenXa + tenHuyen + tenTinh), certificate soPhatHanh and
# soVaoSo (directly or inside a <GiayChungNhan>). Owner <DC_CaNhan>: hoTen, namSinh or ngaySinh, maSoDinhDanh,
# <DC_GiayToTuyThan> (loaiGiayToTuyThan, soGiayTo: the 12-digit number is kept before an old 9-digit CMND),
# <DC_DiaChi>.

_XML_HEADER: tuple[str, ...] = (*REGISTRY_CSV_COLUMNS, *OPTIONAL_COLUMNS)


def _is_xml(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(512)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_fields(elem: Any, skip: tuple[str, ...]) -> dict[str, str]:
    """Attributes and text of the direct children (not inside the elements named in `skip`), by local name."""
    out = {_local(k): v.strip() for k, v in elem.attrib.items() if v and v.strip()}
    for child in elem:
        name = _local(child.tag)
        if name in skip:
            continue
        if len(child) and name == "GiayChungNhan":
            out.update({k: v for k, v in _xml_fields(child, ()).items() if k not in out})
            continue
        if child.text and child.text.strip() and name not in out:
            out[name] = child.text.strip()
    return out


def _xml_address(elem: Any) -> str:
    for child in elem:
        if _local(child.tag) == "DC_DiaChi":
            f = _xml_fields(child, ())
            if f.get("diaChiChiTiet") or f.get("diaChi"):
                return f.get("diaChiChiTiet") or f["diaChi"]
            parts = [f.get(k, "") for k in ("soNha", "tenDuong", "tenXa", "tenHuyen", "tenTinh")]
            return ", ".join(p for p in [" ".join(parts[:2]).strip(), *parts[2:]] if p)
    return ""


def _xml_owner(person: Any) -> tuple[str, str, str, str]:
    f = _xml_fields(person, ("DC_GiayToTuyThan", "DC_DiaChi"))
    numbers = [f.get("maSoDinhDanh", "")]
    for child in person:
        if _local(child.tag) == "DC_GiayToTuyThan":
            numbers.append(_xml_fields(child, ()).get("soGiayTo", ""))
    digits = [n for n in (id_digits(x) for x in numbers) if n]
    # the registry row holds one number: the 12-digit personal number before an old 9-digit CMND
    id_number = next((n for n in digits if len(n) == 12), digits[0] if digits else "")
    year = f.get("namSinh", "")
    if not year and (dob := f.get("ngaySinh", "")):
        found = re.search(r"(1[89]\d\d|20\d\d)", dob)
        year = found.group(1) if found else dob
    return f.get("hoTen", ""), year, id_number, _xml_address(person)


def _xml_rows(parcel: Any) -> list[list[str]]:
    f = _xml_fields(parcel, ("DC_CaNhan", "DC_DiaChi"))
    address = _xml_address(parcel)
    base = [
        f.get("thuaDatId") or f.get("maThuaDat") or f.get("id", ""),
        f.get("maXa") or f.get("xaId", ""),
        f.get("soHieuToBanDo", ""),
        f.get("soThuTuThua", ""),
        address,
        f.get("dienTich", ""),
        f.get("mucDichSuDung", ""),
        f.get("soPhatHanh", ""),
        f.get("soVaoSo", ""),
    ]
    extra = [f.get("trangThai", ""), f.get("thuaDatMoi", ""), f.get("thuaDatGoc", "")]
    owners = [_xml_owner(child) for child in parcel if _local(child.tag) == "DC_CaNhan"]
    if not owners:
        return [[*base, "", "", "", "", *extra]]
    return [[*base, name, year, id_number, owner_address, *extra] for name, year, id_number, owner_address in owners]


def _xml_chunks(path: Path, report: ImportReport, batch_size: int) -> Iterator[RawChunk]:
    """Stream the file with iterparse: each <DC_ThuaDat> is turned into rows and freed, so memory stays flat
    for a whole province. A file that is not well-formed stops the import with the position of the error."""
    import xml.etree.ElementTree as ET

    rows: list[tuple[int, list[str]]] = []
    record = 0
    parents: list[Any] = []
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                parents.append(elem)
                continue
            parents.pop()
            if _local(elem.tag) != "DC_ThuaDat":
                continue
            record += 1
            rows.extend((record, row) for row in _xml_rows(elem))
            elem.clear()
            if parents:  # drop the finished parcel from its parent too
                parents[-1].remove(elem)
            if len(rows) >= batch_size:
                yield 0, rows
                rows = []
    except ET.ParseError as exc:
        raise IntakeError(ErrorCode.UNSUPPORTED_FORMAT, f"{path.name}: not well-formed XML ({exc})") from None
    if record == 0:
        raise IntakeError(
            ErrorCode.UNSUPPORTED_FORMAT, f"{path.name}: no DC_ThuaDat elements (not a VBDLIS XML exchange file)"
        )
    if rows:
        yield 0, rows


# --- loading ---------------------------------------------------------------------------------------------


class _Loader:
    """Bulk writes through the raw DBAPI connection inside the caller's SQLAlchemy transaction."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.dbapi = conn.connection.dbapi_connection
        self.dialect = dialect

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.dialect == "postgresql":
            with (
                self.dbapi.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        cur = self.dbapi.cursor()
        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        cur.close()


def _table_is_empty(conn: Any, table: str) -> bool:
    return conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is None


def _secondary_indexes() -> list[Index]:
    return [*RegistryParcel.__table__.indexes, *RegistryOwner.__table__.indexes]  # type: ignore[attr-defined]


def import_csv(
    path: str | Path,
    engine: Engine,
    progress: ProgressFn | None = None,
    *,
    batch_size: int = 20000,
    workers: int | None = None,
    source: str | None = None,
) -> ImportReport:
    """Load a registry export (CSV contract in models.registry, or a VBDLIS XML exchange file with
    DC_ThuaDat / DC_CaNhan / DC_GiayToTuyThan / DC_DiaChi elements, recognised by its content) into the
    registry tables. Both go through the same normalisation, encoding repair and loading.

    Idempotent: importing the same file again changes nothing; a newer export updates changed parcels and
    owners in place (a parcel's owners are replaced by the ones in the file). Rows that cannot be used are
    skipped and counted with their reason; `progress(rows_read)` is called after every batch. `workers`:
    processes normalising rows besides this one (0 = all in this process; default: one per spare core
    for files over 32 MB)."""
    path = Path(path)
    started = time.perf_counter()
    if workers is None:
        # worker processes pay off only for big files (spawning one costs about a second); this process
        # parses the CSV and writes the database meanwhile, so it counts as one of the cores
        workers = max(1, min((os.cpu_count() or 1) - 1, 4)) if path.stat().st_size > 32 << 20 else 0
    report = ImportReport(source=source or str(path))  # source: where the file came from (s3://...)
    dialect = engine.dialect.name
    with engine.begin() as conn:
        inserted = conn.execute(
            RegistryImport.__table__.insert().values(source=report.source, started_at=utcnow())  # type: ignore[attr-defined]
        ).inserted_primary_key
        assert inserted is not None
        import_id = int(inserted[0])
    report.import_id = import_id
    with engine.begin() as conn:
        if dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MB page cache for the index builds
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        bulk = _table_is_empty(conn, "registry_parcels") and _table_is_empty(conn, "registry_owners")
        report.bulk_load = bulk
        if bulk:
            for index in _secondary_indexes():
                index.drop(conn, checkfirst=True)
            parcel_table, owner_table = "registry_parcels", "registry_owners"
        else:
            parcel_table, owner_table = "_stage_parcels", "_stage_owners"
            for stage, source in ((parcel_table, "registry_parcels"), (owner_table, "registry_owners")):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
                conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} AS SELECT * FROM {source} WHERE 1 = 0")
        loader = _Loader(conn, dialect)
        _load(path, report, progress, batch_size, workers, loader, parcel_table, owner_table, import_id)
        if bulk:
            for index in _secondary_indexes():
                index.create(conn)
            report.parcels_inserted = conn.execute(text("SELECT count(*) FROM registry_parcels")).scalar_one()
            report.owners_inserted = conn.execute(text("SELECT count(*) FROM registry_owners")).scalar_one()
        else:
            _merge(conn, report)
        _refresh_statistics(conn)
        # fresh statistics for every table a lookup joins: without them PostgreSQL plans the term-frequency
        # joins as scans and matching gets twice as slow
        if dialect == "sqlite":
            # sampled statistics: a full ANALYZE reads every index of a million-row table for seconds
            conn.exec_driver_sql("PRAGMA analysis_limit=2000")
        for table in ("registry_parcels", "registry_owners", "registry_term_freq", "registry_commune_names"):
            conn.exec_driver_sql(f"ANALYZE {table}")
    report.seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(
            RegistryImport.__table__.update()  # type: ignore[attr-defined]
            .where(RegistryImport.__table__.c.id == import_id)
            .values(finished_at=utcnow(), report=report.to_dict())
        )
    log.debug("registry import %s: %s", path.name, report.summary().replace("\n", "; "))  # the caller prints it; registry_imports keeps it
    return report


def _load(
    path: Path,
    report: ImportReport,
    progress: ProgressFn | None,
    batch_size: int,
    workers: int,
    loader: _Loader,
    parcel_table: str,
    owner_table: str,
    import_id: int,
) -> None:
    # parcel_id -> [hash of its first row's parcel fields, owners so far, first owner's identity, all identities
    # once there is a second owner]: duplicates are only possible within a parcel, and most have one owner
    seen: dict[str, list[Any]] = {}
    previous: tuple[Any, ...] | None = None
    for batch in _read_rows(path, report, progress, batch_size, workers):
        parcels: list[tuple[Any, ...]] = []
        owners: list[tuple[Any, ...]] = []
        for line, parcel, owner in batch:
            parcel_id = parcel[0]
            state = seen.get(parcel_id)
            created = state is None
            if state is None:
                state = seen[parcel_id] = [hash(parcel), 0, None, None]
                parcels.append((*parcel, import_id))
            # a co-owner row repeating its parcel shares the parcel object (the normaliser reuses it and pickle
            # keeps the identity): compare hashes only when it does not
            elif parcel is not previous and state[0] != hash(parcel):
                report.warnings["co-owner rows disagree on parcel fields (first row kept)"] += 1
            previous = parcel
            if owner is None:
                if not created:
                    report.skip(line, "repeated parcel row without an owner")
                continue
            identity = (owner[1], owner[3], owner[4])  # name key, birth year, id number
            if state[1] == 0:
                state[2] = identity
            else:
                identities = state[3] if state[3] is not None else {state[2]}
                if identity in identities:
                    report.skip(line, "duplicate owner row")
                    continue
                identities.add(identity)
                state[3] = identities
            state[1] += 1
            owners.append((f"{parcel_id}:{state[1]}", parcel_id, state[1], *owner, import_id))
        loader.insert(parcel_table, PARCEL_COLUMNS, parcels)
        loader.insert(owner_table, OWNER_COLUMNS, owners)


def _changed(table: str, stage: str, columns: Sequence[str], key: str, dialect: str) -> str:
    """SQL condition: the staged row differs from the stored one in any data column (NULL-safe)."""
    op = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    return "(" + " OR ".join(f"{table}.{c} {op} {stage}.{c}" for c in columns if c not in (key, "import_id")) + ")"


def _merge(conn: Any, report: ImportReport) -> None:
    """Upsert staged rows: new keys inserted, rows whose content changed updated, the rest untouched."""
    dialect = conn.dialect.name
    # CREATE TABLE AS copies no keys: without these every lookup below is a full scan per row
    conn.exec_driver_sql("CREATE UNIQUE INDEX _stage_parcels_pk ON _stage_parcels (parcel_id)")
    conn.exec_driver_sql("CREATE UNIQUE INDEX _stage_owners_pk ON _stage_owners (owner_id)")
    if dialect == "postgresql":
        conn.exec_driver_sql("ANALYZE _stage_parcels")
        conn.exec_driver_sql("ANALYZE _stage_owners")
    count = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
    parcel_changed = _changed("p", "s", PARCEL_COLUMNS, "parcel_id", dialect)
    owner_changed = _changed("o", "s", OWNER_COLUMNS, "owner_id", dialect)
    report.parcels_inserted = count(
        "SELECT count(*) FROM _stage_parcels s WHERE NOT EXISTS "
        "(SELECT 1 FROM registry_parcels p WHERE p.parcel_id = s.parcel_id)"
    )
    report.parcels_updated = count(
        f"SELECT count(*) FROM _stage_parcels s JOIN registry_parcels p ON p.parcel_id = s.parcel_id WHERE {parcel_changed}"
    )
    report.parcels_unchanged = (
        count("SELECT count(*) FROM _stage_parcels") - report.parcels_inserted - report.parcels_updated
    )
    report.owners_inserted = count(
        "SELECT count(*) FROM _stage_owners s WHERE NOT EXISTS "
        "(SELECT 1 FROM registry_owners o WHERE o.owner_id = s.owner_id)"
    )
    report.owners_updated = count(
        f"SELECT count(*) FROM _stage_owners s JOIN registry_owners o ON o.owner_id = s.owner_id WHERE {owner_changed}"
    )
    report.owners_unchanged = (
        count("SELECT count(*) FROM _stage_owners") - report.owners_inserted - report.owners_updated
    )
    # a parcel's owners are the ones in this export: owners no longer listed are removed
    report.owners_removed = conn.execute(
        text(
            "DELETE FROM registry_owners WHERE parcel_id IN (SELECT parcel_id FROM _stage_parcels) "
            "AND NOT EXISTS (SELECT 1 FROM _stage_owners s WHERE s.owner_id = registry_owners.owner_id)"
        )
    ).rowcount
    for table, stage, key, columns in (
        ("registry_parcels", "_stage_parcels", "parcel_id", PARCEL_COLUMNS),
        ("registry_owners", "_stage_owners", "owner_id", OWNER_COLUMNS),
    ):
        cols = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        changed = _changed(table, "excluded", columns, key, dialect)
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} WHERE true "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {changed}"
        )
        conn.exec_driver_sql(f"DROP TABLE {stage}")


def _refresh_statistics(conn: Any) -> None:
    conn.exec_driver_sql("DELETE FROM registry_term_freq")
    conn.exec_driver_sql(
        "INSERT INTO registry_term_freq (kind, key, n) SELECT 'name', name_key, count(*) FROM registry_owners "
        "WHERE name_key IS NOT NULL GROUP BY name_key"
    )
    conn.exec_driver_sql(
        "INSERT INTO registry_term_freq (kind, key, n) SELECT 'given', given_key, count(*) FROM registry_owners "
        "WHERE given_key IS NOT NULL GROUP BY given_key"
    )
    for kind, column in (("regno", "registry_key"), ("serial", "serial_key")):
        conn.exec_driver_sql(
            f"INSERT INTO registry_term_freq (kind, key, n) SELECT '{kind}', {column}, count(*) "
            f"FROM registry_parcels WHERE {column} IS NOT NULL GROUP BY {column} HAVING count(*) > 1"
        )
    conn.exec_driver_sql("DELETE FROM registry_commune_names")
    conn.exec_driver_sql(
        "INSERT INTO registry_commune_names (name_key, commune_code, n) "
        "SELECT commune_key, commune_code, count(*) FROM registry_parcels "
        "WHERE commune_key IS NOT NULL AND commune_code IS NOT NULL GROUP BY commune_key, commune_code"
    )


# --- lookups ---------------------------------------------------------------------------------------------


@dataclass
class OwnerRow:
    owner_id: str
    parcel_id: str
    owner_index: int
    name: str | None
    name_key: str | None
    birth_year: int | None
    id_number: str | None
    address: str | None
    repaired: str | None
    name_freq: int | None = None  # registry owners with this name key (None: not looked up)


@dataclass
class ParcelRow:
    parcel_id: str
    commune_code: str | None
    map_sheet_number: int | None
    parcel_number: int | None
    address: str | None
    area_m2: float | None
    land_use_code: str | None
    certificate_serial: str | None
    registry_number: str | None
    commune_key: str | None
    status: str
    superseded_by: str | None
    derived_from: str | None
    repaired: str | None
    owners: list[OwnerRow] = field(default_factory=list)
    registry_freq: int | None = None  # parcels sharing this registry number (None: not looked up)
    serial_freq: int | None = None

    def to_record(self) -> ParcelRecord:
        return ParcelRecord(
            parcel_id=self.parcel_id,
            commune_code=self.commune_code,
            map_sheet_number=self.map_sheet_number,
            parcel_number=self.parcel_number,
            address=self.address,
            area_m2=self.area_m2,
            land_use_code=self.land_use_code,
            certificate_serial=self.certificate_serial,
            registry_number=self.registry_number,
            owners=[
                OwnerRecord(
                    owner_id=o.owner_id, name=o.name, birth_year=o.birth_year, id_number=o.id_number, address=o.address
                )
                for o in self.owners
            ],
        )


_PARCEL_SELECT = (
    "SELECT parcel_id, commune_code, map_sheet_number, parcel_number, address, area_m2, land_use_code, "
    "certificate_serial, registry_number, commune_key, status, superseded_by, derived_from, repaired "
    "FROM registry_parcels"
)
_OWNER_SELECT = (
    "SELECT owner_id, parcel_id, owner_index, name, name_key, birth_year, id_number, address, repaired "
    "FROM registry_owners"
)
_FETCH_SELECT = (
    "SELECT p.parcel_id, p.commune_code, p.map_sheet_number, p.parcel_number, p.address, p.area_m2, "
    "p.land_use_code, p.certificate_serial, p.registry_number, p.commune_key, p.status, p.superseded_by, "
    "p.derived_from, p.repaired, fr.n, fs.n, "
    "o.owner_id, o.parcel_id, o.owner_index, o.name, o.name_key, o.birth_year, o.id_number, o.address, "
    "o.repaired, fn.n "
    "FROM registry_parcels p "
    "LEFT JOIN registry_owners o ON o.parcel_id = p.parcel_id "
    "LEFT JOIN registry_term_freq fn ON fn.kind = 'name' AND fn.key = o.name_key "
    "LEFT JOIN registry_term_freq fr ON fr.kind = 'regno' AND fr.key = p.registry_key "
    "LEFT JOIN registry_term_freq fs ON fs.kind = 'serial' AND fs.key = p.serial_key"
)
# the name column of lookups that do not need it (typed, so PostgreSQL can UNION it with real names)
_NO_NAME = "CAST(NULL AS TEXT) AS name_key"


@dataclass(frozen=True)
class Lookup:
    """One candidate lookup: SQL selecting (parcel_id, name_key) with its parameters."""

    sql: str
    params: Sequence[Any]


class RegistryRepository:
    """Candidate lookups for the matcher: each returns parcel ids through one indexed query.

    Queries go straight to the DBAPI cursor of the caller's connection (SQLAlchemy compiles an expanding
    IN clause on every call, which was most of the matching latency); `?` or `%s` placeholders by dialect,
    `= ANY(array)` instead of an IN list on PostgreSQL."""

    def __init__(self, engine: Engine, limit: int = 200) -> None:
        self.engine = engine
        self.limit = limit
        self.pg = engine.dialect.name == "postgresql"

    def _run(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self.pg:
            sql = sql.replace("?", "%s")
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.execute(sql, tuple(params))
            return cur.fetchall()
        finally:
            cur.close()

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column IN (...)` as SQL and parameters."""
        if self.pg:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def _ids(self, conn: Any, sql: str, params: Sequence[Any]) -> list[str]:
        return [r[0] for r in self._run(conn, sql, params)]

    # Each lookup is a fragment `SELECT parcel_id, name_key ...` with its parameters: run alone, or all of a
    # submission's lookups in one UNION ALL round trip (what PostgreSQL latency needs).

    def _in_lookup(self, table: str, column: str, values: Sequence[Any]) -> Lookup:
        clause, params = self._in(column, values)
        return Lookup(f"SELECT parcel_id, {_NO_NAME} FROM {table} WHERE {clause} LIMIT {self.limit}", params)

    def serial_lookup(self, keys: Sequence[str]) -> Lookup:
        return self._in_lookup("registry_parcels", "serial_key", list(keys))

    def serial_number_lookup(self, number: str) -> Lookup:
        return Lookup(
            f"SELECT parcel_id, {_NO_NAME} FROM registry_parcels WHERE serial_number = ? LIMIT {self.limit}", [number]
        )

    def registry_number_lookup(self, keys: Sequence[str]) -> Lookup:
        return self._in_lookup("registry_parcels", "registry_key", list(keys))

    def parcel_ref_lookup(self, sheet: int, number: int, communes: Sequence[str] | None) -> Lookup:
        sql = f"SELECT parcel_id, {_NO_NAME} FROM registry_parcels WHERE map_sheet_number = ? AND parcel_number = ?"
        if communes:
            clause, params = self._in("commune_code", list(communes))
            return Lookup(f"{sql} AND {clause} LIMIT {self.limit}", [sheet, number, *params])
        return Lookup(f"{sql} LIMIT {self.limit}", [sheet, number])

    def address_lookups(self, keys: Sequence[str], limit: int = 30) -> list[Lookup]:
        """Parcels at these addresses (address_key) and parcels of owners living at them."""
        clause, params = self._in("address_key", list(keys))
        return [
            Lookup(f"SELECT parcel_id, {_NO_NAME} FROM {table} WHERE {clause} LIMIT {limit}", params)
            for table in ("registry_parcels", "registry_owners")
        ]

    def id_number_lookup(self, ids: Sequence[str]) -> Lookup:
        return self._in_lookup("registry_owners", "id_number", list(ids))

    def name_lookup(self, name_key: str, years: Sequence[int] | None, limit: int | None = None) -> Lookup:
        limit = limit or self.limit
        if years:
            # a registry row without a birth year is a candidate too (3% of rows lack one)
            clause, params = self._in("birth_year", list(years))
            return Lookup(
                f"SELECT parcel_id, {_NO_NAME} FROM registry_owners WHERE name_key = ? "
                f"AND ({clause} OR birth_year IS NULL) LIMIT {limit}",
                [name_key, *params],
            )
        return Lookup(f"SELECT parcel_id, {_NO_NAME} FROM registry_owners WHERE name_key = ? LIMIT {limit}", [name_key])

    def name_prefix_lookups(self, prefix: str, years: Sequence[int]) -> list[Lookup]:
        """Owners whose name starts with `prefix` (`TRAN THANH `), born in one of `years` or of unknown birth
        year, with their name keys: index range scans on (birth_year, name_key). Keys are upper-case ASCII
        and spaces, so prefix + "~" sorts after every key with the prefix."""
        sql = (
            "SELECT parcel_id, name_key FROM registry_owners WHERE birth_year {} AND name_key >= ? AND name_key < ? "
            f"LIMIT {self.limit * 5}"
        )
        lookups = [Lookup(sql.format("= ?"), [year, prefix, prefix + "~"]) for year in years]
        lookups.append(Lookup(sql.format("IS NULL"), [prefix, prefix + "~"]))
        return lookups

    def given_name_lookup(self, given_key: str, years: Sequence[int]) -> Lookup:
        """Owners with this given name born in one of `years`, with their name keys (covering index)."""
        clause, params = self._in("birth_year", list(years))
        return Lookup(
            f"SELECT parcel_id, name_key FROM registry_owners WHERE given_key = ? AND {clause} LIMIT {self.limit * 5}",
            [given_key, *params],
        )

    def run_lookups(self, conn: Any, lookups: Sequence[tuple[str, Lookup]]) -> list[tuple[str, str, str | None]]:
        """(rule, parcel_id, name_key) for every row of every lookup, in one round trip."""
        if not lookups:
            return []
        parts: list[str] = []
        params: list[Any] = []
        for i, (_rule, lookup) in enumerate(lookups):
            parts.append(f"SELECT {i} AS k, parcel_id, name_key FROM ({lookup.sql}) AS q{i}")
            params += lookup.params
        rows = self._run(conn, " UNION ALL ".join(parts), params)
        return [(lookups[k][0], pid, key) for k, pid, key in rows]

    def _lookup_ids(self, conn: Any, lookup: Lookup) -> list[str]:
        return [pid for _rule, pid, _key in self.run_lookups(conn, [("", lookup)])]

    def by_serial(self, conn: Any, keys: Sequence[str]) -> list[str]:
        return self._lookup_ids(conn, self.serial_lookup(keys)) if keys else []

    def by_serial_number(self, conn: Any, number: str) -> list[str]:
        return self._lookup_ids(conn, self.serial_number_lookup(number))

    def by_registry_number(self, conn: Any, keys: Sequence[str]) -> list[str]:
        return self._lookup_ids(conn, self.registry_number_lookup(keys)) if keys else []

    def by_parcel_ref(self, conn: Any, sheet: int, number: int, communes: Sequence[str] | None) -> list[str]:
        return self._lookup_ids(conn, self.parcel_ref_lookup(sheet, number, communes))

    def by_id_number(self, conn: Any, ids: Sequence[str]) -> list[str]:
        return self._lookup_ids(conn, self.id_number_lookup(ids)) if ids else []

    def by_name(self, conn: Any, name_key: str, years: Sequence[int] | None) -> list[str]:
        return self._lookup_ids(conn, self.name_lookup(name_key, years))

    def by_name_prefix(self, conn: Any, prefix: str, years: Sequence[int]) -> list[tuple[str, str]]:
        rows = self.run_lookups(conn, [("", lk) for lk in self.name_prefix_lookups(prefix, years)])
        return [(pid, key) for _rule, pid, key in rows if key is not None]

    def by_given_name(self, conn: Any, given_key: str, years: Sequence[int]) -> list[tuple[str, str]]:
        rows = self.run_lookups(conn, [("", self.given_name_lookup(given_key, years))])
        return [(pid, key) for _rule, pid, key in rows if key is not None]

    def owners_per_person(self, conn: Any) -> float:
        """Average number of other parcels per owner, by 12-digit personal number (0 when unknown)."""
        row = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT id_number) FROM registry_owners "
                "WHERE id_number IS NOT NULL AND length(id_number) = 12"
            )
        ).first()
        rows, people = row or (0, 0)
        return (rows - people) / people if people else 0.0

    def fetch(self, conn: Any, parcel_ids: Iterable[str]) -> dict[str, ParcelRow]:
        """Parcels with their owners in CSV order, and how common their name, registry number and serial are
        (term frequencies), in one round trip."""
        ids = list(dict.fromkeys(parcel_ids))
        if not ids:
            return {}
        clause, params = self._in("p.parcel_id", ids)
        parcels: dict[str, ParcelRow] = {}
        for r in self._run(conn, f"{_FETCH_SELECT} WHERE {clause} ORDER BY p.parcel_id, o.owner_index", params):
            parcel = parcels.get(r[0])
            if parcel is None:
                parcel = parcels[r[0]] = ParcelRow(*r[:14], registry_freq=r[14], serial_freq=r[15])  # type: ignore[misc]
            if r[16] is not None:
                parcel.owners.append(OwnerRow(*r[16:25], name_freq=r[25]))  # type: ignore[misc]
        return parcels

    def frequency(self, conn: Any, kind: str, key: str) -> int:
        rows = self._run(conn, "SELECT n FROM registry_term_freq WHERE kind = ? AND key = ?", [kind, key])
        return int(rows[0][0]) if rows else 0

    def given_name_frequencies(self, conn: Any) -> dict[str, int]:
        return {k: n for k, n in conn.execute(text("SELECT key, n FROM registry_term_freq WHERE kind = 'given'"))}

    def commune_names(self, conn: Any) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name_key, code, n in conn.execute(text("SELECT name_key, commune_code, n FROM registry_commune_names")):
            out.setdefault(name_key, {})[code] = n
        return out

    def counts(self, conn: Any) -> tuple[int, int]:
        parcels = conn.execute(text("SELECT count(*) FROM registry_parcels")).scalar_one()
        owners = conn.execute(text("SELECT count(*) FROM registry_owners")).scalar_one()
        return int(parcels), int(owners)


def get_parcel(engine: Engine, parcel_id: str) -> ParcelRecord | None:
    """One parcel with its owners, for the review app."""
    repo = RegistryRepository(engine)
    with engine.connect() as conn:
        row = repo.fetch(conn, [parcel_id]).get(parcel_id)
    return row.to_record() if row else None


def registry_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM registry_parcels")).scalar_one())


def last_import(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT report FROM registry_imports WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1")
        ).first()
    if row is None or row[0] is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])
