"""The registry tables (parcels, owners, term frequencies, commune names, imports) and the column order the
importer writes them in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.registry import REGISTRY_CSV_COLUMNS
from worker.store.db import Base

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


# the parcel's own columns of the export contract (the rest describe its owner)
EXPORT_PARCEL_COLUMNS: tuple[str, ...] = tuple(c for c in REGISTRY_CSV_COLUMNS if not c.startswith("owner_"))
PARCEL_COLUMNS: tuple[str, ...] = (
    *EXPORT_PARCEL_COLUMNS,
    "serial_key",
    "serial_number",
    "registry_key",
    "commune_key",
    "address_key",
    *OPTIONAL_COLUMNS,
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
