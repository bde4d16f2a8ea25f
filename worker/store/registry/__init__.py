"""The registry (VBDLIS export): parcel, owner and certificate tables, the importer, candidate lookups.

Import is built for Huế scale (about 1.12 million parcels): rows stream from the file in batches through
DBAPI `executemany` (SQLite) or `COPY` (PostgreSQL), never ORM objects. A first import into empty tables
loads straight into them and builds the secondary indexes afterwards; a re-import goes through staging
tables and an upsert keyed on a per-row content hash, so it is idempotent and reports what changed.

Every text value is checked for legacy Vietnamese encodings (TCVN3, VNI, UTF-8 decoded twice) and repaired;
the repair is recorded on the row (`repaired`) and counted in the report.

Modules: tables (the schema), report (ImportReport), rows (one raw row to table tuples), reading (CSV
chunks, in worker processes for big files), vbdlis_xml (the XML exchange as rows), importer (import_csv),
lookups (RegistryRepository for the matcher, get_parcel for the review app). The lookup keys themselves are
worker.keys, shared with the matcher."""

from worker.store.registry.importer import import_csv
from worker.store.registry.lookups import Lookup, OwnerRow, ParcelRow, RegistryRepository, get_parcel, registry_size
from worker.store.registry.report import ImportReport
from worker.store.registry.tables import (
    OWNER_COLUMNS,
    PARCEL_COLUMNS,
    RegistryCommuneName,
    RegistryImport,
    RegistryOwner,
    RegistryParcel,
    RegistryTermFrequency,
)

__all__ = [
    "OWNER_COLUMNS",
    "PARCEL_COLUMNS",
    "ImportReport",
    "Lookup",
    "OwnerRow",
    "ParcelRow",
    "RegistryCommuneName",
    "RegistryImport",
    "RegistryOwner",
    "RegistryParcel",
    "RegistryRepository",
    "RegistryTermFrequency",
    "get_parcel",
    "import_csv",
    "registry_size",
]
