"""Candidate lookups for the matcher and single-parcel reads for the review app."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from models.registry import OwnerRecord, ParcelRecord


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
