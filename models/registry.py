"""The registry export contract (one CSV row per parcel-owner pair) and the stored records."""

from __future__ import annotations

from pydantic import BaseModel, Field

REGISTRY_CSV_COLUMNS: tuple[str, ...] = (
    "parcel_id",
    "commune_code",
    "map_sheet_number",
    "parcel_number",
    "address",
    "area_m2",
    "land_use_code",
    "certificate_serial",
    "registry_number",
    "owner_name",
    "owner_birth_year",
    "owner_id_number",
    "owner_address",
)


class RegistryRow(BaseModel):
    parcel_id: str = Field(min_length=1)
    commune_code: str | None = None
    map_sheet_number: int | None = None
    parcel_number: int | None = None
    address: str | None = None
    area_m2: float | None = None
    land_use_code: str | None = None
    certificate_serial: str | None = None
    registry_number: str | None = None
    owner_name: str | None = None
    owner_birth_year: int | None = None
    owner_id_number: str | None = None
    owner_address: str | None = None


class OwnerRecord(BaseModel):
    owner_id: str
    name: str | None = None
    birth_year: int | None = None
    id_number: str | None = None
    address: str | None = None


class ParcelRecord(BaseModel):
    parcel_id: str
    commune_code: str | None = None
    map_sheet_number: int | None = None
    parcel_number: int | None = None
    address: str | None = None
    area_m2: float | None = None
    land_use_code: str | None = None
    certificate_serial: str | None = None
    registry_number: str | None = None
    owners: list[OwnerRecord] = Field(default_factory=list)
