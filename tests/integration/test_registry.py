"""Registry store: Alembic schema, CSV import (SQLite and PostgreSQL), idempotent re-import, skipped rows,
legacy-encoding repair, candidate lookups."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from fixtures.legacy import encode_tcvn3
from models.registry import REGISTRY_CSV_COLUMNS
from worker.errors import IntakeError
from worker.keys import serial_key
from worker.store.db import make_engine
from worker.store.migrate import current_revision, head_revision, open_database, upgrade
from worker.store.registry import RegistryRepository, get_parcel, import_csv, registry_size
from worker.vntext import name_key

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "sample_set"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(
    path: Path, rows: list[dict[str, str]], header: tuple[str, ...] = REGISTRY_CSV_COLUMNS, encoding: str = "utf-8"
) -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=list(header), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_upgrade_creates_every_table_and_is_idempotent(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    tables = set(inspect(engine).get_table_names())
    assert {
        "registry_parcels",
        "registry_owners",
        "registry_term_freq",
        "registry_commune_names",
        "registry_imports",
    } <= tables
    assert {"submissions", "documents", "proposals"} <= tables
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()


def _check_sample_import(engine) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(SAMPLE / "parcels.csv")
    report = import_csv(SAMPLE / "parcels.csv", engine)
    assert report.rows_read == len(rows)
    assert report.rows_skipped == 0
    assert report.parcels_inserted == len({r["parcel_id"] for r in rows})
    assert report.owners_inserted == len(rows)
    assert registry_size(engine) == report.parcels_inserted
    # owner ids follow the CSV row order within each parcel
    order: Counter[str] = Counter()
    expected = {}
    for r in rows:
        order[r["parcel_id"]] += 1
        expected[f"{r['parcel_id']}:{order[r['parcel_id']]}"] = r
    with engine.connect() as conn:
        stored = {
            oid: (by, idn)
            for oid, by, idn in conn.execute(text("SELECT owner_id, birth_year, id_number FROM registry_owners"))
        }
    assert set(stored) == set(expected)
    for oid, r in expected.items():
        assert stored[oid] == (
            int(r["owner_birth_year"]) if r["owner_birth_year"] else None,
            r["owner_id_number"] or None,
        )
    # the sample registry carries TCVN3 and VNI names: they come out as Unicode Vietnamese
    assert report.encodings_repaired["tcvn3"] > 0 and report.encodings_repaired["vni"] > 0
    truth_rows = [json.loads(line) for line in (SAMPLE / "registry_truth.jsonl").open(encoding="utf-8")]
    fixed = 0
    for parcel in truth_rows:
        for row in parcel["rows"]:
            if "tcvn3" in row["dirt"] or "vni" in row["dirt"]:
                record = get_parcel(engine, parcel["parcel_id"])
                assert record is not None
                owner = next(o for o in record.owners if o.owner_id == f"{parcel['parcel_id']}:{row['owner_index']}")
                # written dirty, read back clean: the legacy bytes never survive the import
                assert owner.name != row["values"]["owner_name"]
                assert name_key(owner.name) != name_key(row["values"]["owner_name"]) or owner.name.isascii()
                fixed += 1
    assert fixed > 0
    # and a second import of the same file changes nothing
    again = import_csv(SAMPLE / "parcels.csv", engine)
    assert (again.parcels_inserted, again.parcels_updated, again.owners_inserted, again.owners_updated) == (0, 0, 0, 0)
    assert again.parcels_unchanged == report.parcels_inserted
    assert again.owners_unchanged == report.owners_inserted


def test_import_sample_registry_into_sqlite(sqlite_url: str) -> None:
    _check_sample_import(open_database(sqlite_url))


@pytest.mark.postgres
def test_import_sample_registry_into_postgresql(postgres_url: str) -> None:
    _check_sample_import(open_database(postgres_url))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_reimport_updates_changed_rows_and_removes_dropped_owners(backend: str, request, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = open_database(url)
    rows = _rows(SAMPLE / "parcels.csv")
    import_csv(_write(tmp_path / "v1.csv", rows), engine)
    counts = Counter(r["parcel_id"] for r in rows)
    pair = next(pid for pid, n in counts.items() if n >= 2)
    single = next(pid for pid, n in counts.items() if n == 1)
    changed = [dict(r) for r in rows]
    for r in changed:
        if r["parcel_id"] == single:
            r["area_m2"] = "999.9"
    # drop the second owner of a co-owned parcel; add a new parcel
    first_of_pair = next(i for i, r in enumerate(changed) if r["parcel_id"] == pair)
    del changed[first_of_pair + 1]
    changed.append({**rows[0], "parcel_id": "NEW0000001", "certificate_serial": "ZZ 000001"})
    report = import_csv(_write(tmp_path / "v2.csv", changed), engine)
    assert report.parcels_inserted == 1
    assert report.parcels_updated == 1
    assert report.owners_removed == 1
    assert report.owners_inserted == 1
    record = get_parcel(engine, single)
    assert record is not None and record.area_m2 == pytest.approx(999.9)
    pair_record = get_parcel(engine, pair)
    assert pair_record is not None and len(pair_record.owners) == counts[pair] - 1


def test_rows_that_cannot_be_used_are_skipped_with_reasons(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    rows = _rows(SAMPLE / "parcels.csv")[:20]
    path = tmp_path / "bad.csv"
    _write(path, rows)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(",19789,1,2,addr,10,ODT,,,NO PARCEL ID,1970,,\n")  # missing parcel_id
        fh.write("TD9,19789,1\n")  # too few columns
        w = csv.writer(fh)
        w.writerow([rows[0][c] for c in REGISTRY_CSV_COLUMNS])  # the same owner row again
        w.writerow(["TD8", "19789", "x", "7", "addr", "abc", "ODT", "", "", "A", "1970", "", ""])  # bad numbers
    report = import_csv(path, engine)
    assert report.rows_read == 24
    assert report.rows_skipped == 3
    assert set(report.skipped_reasons) == {"missing parcel_id", "3 columns, header has 13", "duplicate owner row"}
    assert all(line > 1 for line, _ in report.skipped_examples)
    assert report.warnings["map_sheet_number not a number (stored empty)"] == 1
    assert report.warnings["area_m2 not a number (stored empty)"] == 1
    assert "skipped: 3" in report.summary()


def test_not_a_registry_file_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(IntakeError, match="parcel_id"):
        import_csv(path, engine)


def test_an_8bit_legacy_export_is_detected_and_repaired(sqlite_url: str, tmp_path: Path) -> None:
    """A TCVN3-typed registry saved as 8-bit (cp1252) text, not UTF-8: the file encoding is detected and
    every value comes back as Unicode Vietnamese, recorded per row."""
    engine = open_database(sqlite_url)
    rows = []
    names = ["Nguyễn Văn Hoàng", "Trần Thị Hồng", "Lê Đức Thắng", "Phạm Thị Thu Hương"]
    for i, name in enumerate(names):
        rows.append(
            {
                "parcel_id": f"L{i}",
                "commune_code": "19789",
                "map_sheet_number": "5",
                "parcel_number": str(10 + i),
                "address": encode_tcvn3(f"{i + 1} Lê Lợi, Phường Vĩnh Ninh, Thành phố Huế"),
                "area_m2": "100,5",
                "land_use_code": "ODT",
                "certificate_serial": "CS 00000" + str(i),
                "registry_number": "",
                "owner_name": encode_tcvn3(name),
                "owner_birth_year": "1970",
                "owner_id_number": "",
                "owner_address": "",
            }
        )
    path = _write(tmp_path / "legacy.csv", rows, encoding="cp1252")
    report = import_csv(path, engine)
    assert report.file_encoding == "cp1252"
    assert report.rows_repaired == len(names)
    for i, name in enumerate(names):
        record = get_parcel(engine, f"L{i}")
        assert record is not None
        assert record.owners[0].name == name
        assert record.address == f"{i + 1} Lê Lợi, Phường Vĩnh Ninh, Thành phố Huế"
        assert record.area_m2 == pytest.approx(100.5)
    with engine.connect() as conn:
        repaired = {r[0] for r in conn.execute(text("SELECT repaired FROM registry_owners"))}
    assert repaired == {"tcvn3"}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_candidate_lookups(backend: str, request) -> None:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = open_database(url)
    import_csv(SAMPLE / "parcels.csv", engine)
    rows = _rows(SAMPLE / "parcels.csv")
    row = next(r for r in rows if r["certificate_serial"] and r["owner_id_number"] and r["owner_birth_year"])
    repo = RegistryRepository(engine)
    with engine.connect() as conn:
        assert row["parcel_id"] in repo.by_serial(conn, [serial_key(row["certificate_serial"].replace(" ", ""))])
        assert row["parcel_id"] in repo.by_id_number(conn, [row["owner_id_number"]])
        assert row["parcel_id"] in repo.by_parcel_ref(
            conn, int(row["map_sheet_number"]), int(row["parcel_number"]), [row["commune_code"]]
        )
        assert row["parcel_id"] in repo.by_parcel_ref(
            conn, int(row["map_sheet_number"]), int(row["parcel_number"]), None
        )
        record = repo.fetch(conn, [row["parcel_id"]])[row["parcel_id"]]
        owner = record.owners[0]
        year = owner.birth_year
        assert row["parcel_id"] in repo.by_name(conn, owner.name_key, [year])
        prefix = owner.name_key.rsplit(" ", 1)[0] + " "
        assert (row["parcel_id"], owner.name_key) in repo.by_name_prefix(conn, prefix, [year])
        assert repo.frequency(conn, "name", owner.name_key) >= 1
        names = repo.commune_names(conn)
        assert names and all(code.isdigit() for codes in names.values() for code in codes)


def _stored(engine) -> tuple[set[tuple], set[tuple]]:  # type: ignore[no-untyped-def,type-arg]
    from worker.store.registry import OWNER_COLUMNS, PARCEL_COLUMNS

    parcel_cols = ", ".join(c for c in PARCEL_COLUMNS if c != "import_id")
    owner_cols = ", ".join(c for c in OWNER_COLUMNS if c != "import_id")
    with engine.connect() as conn:
        parcels = {tuple(r) for r in conn.execute(text(f"SELECT {parcel_cols} FROM registry_parcels"))}
        owners = {tuple(r) for r in conn.execute(text(f"SELECT {owner_cols} FROM registry_owners"))}
    return parcels, owners


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_vbdlis_xml_exchange_imports_like_the_csv(backend: str, request, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same registry as VBDLIS XML (DC_ThuaDat / DC_CaNhan / DC_GiayToTuyThan / DC_DiaChi, a namespace,
    values as attributes or elements, split addresses, full birth dates, a second old CMND paper, legacy
    encodings) stores exactly what the CSV import stores, through the CLI too, and re-imports idempotently."""
    import os
    import subprocess
    import sys

    from fixtures.registry_xml import write_registry_xml

    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    xml_path = tmp_path / "vbdlis.xml"
    counts = write_registry_xml(SAMPLE / "parcels.csv", xml_path, seed=3)
    rows = _rows(SAMPLE / "parcels.csv")
    assert counts["parcels"] == len({r["parcel_id"] for r in rows})
    text_xml = xml_path.read_text(encoding="utf-8")
    assert "<DC_GiayToTuyThan>" in text_xml and "<soNha>" in text_xml and "<ngaySinh>" in text_xml
    reference = open_database(f"sqlite:///{tmp_path / 'csv.db'}")
    import_csv(SAMPLE / "parcels.csv", reference)

    engine = open_database(url)
    env = {**os.environ, "INTAKE_DATABASE_URL": url, "INTAKE_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "worker", "parcels", "import", str(xml_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "skipped: 0" in done.stdout + done.stderr
    assert _stored(engine) == _stored(reference)
    with engine.connect() as conn:
        repaired = {r[0] for r in conn.execute(text("SELECT repaired FROM registry_owners WHERE repaired IS NOT NULL"))}
    assert {"tcvn3", "vni"} <= {enc for value in repaired for enc in value.split(",")}
    again = import_csv(xml_path, engine)
    assert again.file_encoding == "xml" and again.position == "record"
    assert (again.parcels_inserted, again.parcels_updated, again.owners_inserted, again.owners_updated) == (0, 0, 0, 0)
    assert again.parcels_unchanged == counts["parcels"]


def test_vbdlis_xml_bad_records_are_skipped_and_bad_files_refused(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    good = tmp_path / "one.xml"
    good.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<DuLieu><DanhSachThuaDat>
  <DC_ThuaDat maThuaDat="X1" xaId="19789"><soHieuToBanDo>5</soHieuToBanDo><soThuTuThua>12</soThuTuThua>
    <dienTich>100,5</dienTich><soPhatHanh>CS 123456</soPhatHanh>
    <DC_DiaChi><diaChiChiTiet>5 Lê Lợi, Phường Vĩnh Ninh, TP. Huế</diaChiChiTiet></DC_DiaChi>
    <DC_CaNhan><hoTen>Nguyễn Văn An</hoTen><namSinh>1965</namSinh>
      <DC_GiayToTuyThan><loaiGiayToTuyThan>CMND</loaiGiayToTuyThan><soGiayTo>191234567</soGiayTo></DC_GiayToTuyThan>
      <DC_GiayToTuyThan><loaiGiayToTuyThan>CCCD</loaiGiayToTuyThan><soGiayTo>046065001234</soGiayTo></DC_GiayToTuyThan>
    </DC_CaNhan>
    <DC_CaNhan><hoTen>Nguyễn Văn An</hoTen><namSinh>1965</namSinh><maSoDinhDanh>046065001234</maSoDinhDanh></DC_CaNhan>
  </DC_ThuaDat>
  <DC_ThuaDat><soHieuToBanDo>1</soHieuToBanDo></DC_ThuaDat>
</DanhSachThuaDat></DuLieu>
""",
        encoding="utf-8",
    )
    report = import_csv(good, engine)
    assert report.rows_read == 3
    assert report.skipped_reasons == {"duplicate owner row": 1, "missing parcel_id": 1}
    assert "record 2: missing parcel_id" in report.summary()
    record = get_parcel(engine, "X1")
    assert record is not None and record.commune_code == "19789" and record.area_m2 == pytest.approx(100.5)
    # the 12-digit personal number is kept before the old CMND
    assert [(o.name, o.birth_year, o.id_number) for o in record.owners] == [("Nguyễn Văn An", 1965, "046065001234")]
    broken = tmp_path / "broken.xml"
    broken.write_text("<DuLieu><DC_ThuaDat maThuaDat='Y'>", encoding="utf-8")
    with pytest.raises(IntakeError, match="not well-formed"):
        import_csv(broken, engine)
    other = tmp_path / "other.xml"
    other.write_text("<html><body>no parcels</body></html>", encoding="utf-8")
    with pytest.raises(IntakeError, match="DC_ThuaDat"):
        import_csv(other, engine)
