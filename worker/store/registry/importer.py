"""Loading a registry export into the tables: bulk load into empty tables, or staging tables and an upsert
(idempotent, reports what changed); term-frequency and commune-name statistics refreshed afterwards."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Index, text

from worker.store.registry.reading import read_rows
from worker.store.registry.report import ImportReport
from worker.store.registry.rows import ProgressFn
from worker.store.registry.tables import (
    OWNER_COLUMNS,
    PARCEL_COLUMNS,
    RegistryImport,
    RegistryOwner,
    RegistryParcel,
    utcnow,
)

log = logging.getLogger(__name__)


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
    log.debug(
        "registry import %s: %s", path.name, report.summary().replace("\n", "; ")
    )  # the caller prints it; registry_imports keeps it
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
    for batch in read_rows(path, report, progress, batch_size, workers):
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
