#!/usr/bin/env python3
"""Build the readers' word lists (worker/lexicons/data/) from named outside sources, never from fixtures/.

    python scripts/build_lexicons.py [--cache DIR] [--check]

Administrative units come from three MIT-licensed PyPI packages whose data are exports of the official
list (the statistics office's administrative-unit catalogue, danhmuchanhchinh.gso.gov.vn, and the July 2025
merger tables published with the reform); the script downloads each pinned wheel with pip, checks its
sha256, reads the data straight out of the wheel (nothing is installed or imported) and writes TSV files
whose header names the package, version, licence and the file inside it:

  vietnamadminunits 1.0.4  the units after the 1 July 2025 reform (34 provinces, 3,321 communes/wards), the
                           units just before it (63 provinces, 696 districts, 10,035 communes, January 2025)
                           and which old commune went into which new one
  geoapivietnam 0.3.4      a statistics-office export of the 2021-2024 units (e.g. `Tỉnh Thừa Thiên Huế`,
                           Huế's 36 wards after the 2021 expansion)
  vnaddress 1.0.5          the 2019-2020 units (the wards Huế merged in 2021), names without unit type

Streets of Huế and the land-use vocabulary come from transcriptions kept in scripts/lexicon_sources/, one
row per entry with the public source it was read from; the script normalises them (NFC, no duplicates) and
writes them with the same header. `--check` rebuilds into a temporary folder and fails if the committed
files differ (what CI would run when a source is bumped). docs/lexicons.md says why these sources.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "worker" / "lexicons" / "data"
TRANSCRIPTIONS = REPO / "scripts" / "lexicon_sources"


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    licence: str
    sha256: str
    home: str

    @property
    def label(self) -> str:
        return f"{self.package} {self.version} (PyPI, licence {self.licence}, {self.home})"


ADMIN_UNITS = Wheel("vietnamadminunits", "1.0.4", "MIT",
                    "737ee3662e877290386c1c45ed4d71f2e5fae34ab6fb9c64bfb4cb74b216ea35",
                    "github.com/tranngocminhhieu/vietnamadminunits")  # fmt: skip
GSO_2021 = Wheel("geoapivietnam", "0.3.4", "MIT",
                 "9105a2f08a5b8dcbc4cdb1a880b4df4ea75abff73cee71e36c37fc94fad57157",
                 "github.com/tranngocminhhieu/geo-api-vietnam")  # fmt: skip
PRE_2021 = Wheel("vnaddress", "1.0.5", "MIT",
                 "827b739bae83551faaa20ed806b1a5aebd3a739d69e798d37cc7f92758e0e935",
                 "github.com/vantrong291/vn_address_standardizer")  # fmt: skip
WHEELS = (ADMIN_UNITS, GSO_2021, PRE_2021)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def fetch(wheel: Wheel, cache: Path) -> zipfile.ZipFile:
    """The pinned wheel from PyPI through pip (cached), checked against its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{wheel.package.replace('-', '_')}-{wheel.version}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        f"{wheel.package}=={wheel.version}", "-d", str(cache)], check=True)  # fmt: skip
        found = sorted(cache.glob(f"{wheel.package.replace('-', '_')}-{wheel.version}-*.whl"))
    if not found:
        raise SystemExit(f"pip did not bring {wheel.package}=={wheel.version} into {cache}")
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if digest != wheel.sha256:
        raise SystemExit(f"{found[0].name}: sha256 {digest} is not the pinned {wheel.sha256}")
    return zipfile.ZipFile(found[0])


def write_tsv(name: str, header: Sequence[str], about: Sequence[str], rows: Iterable[Sequence[str]], out: Path) -> int:
    """A TSV whose leading `#` lines say where it came from; rows sorted and without duplicates."""
    unique = sorted({tuple(nfc(str(c)) for c in r) for r in rows})
    lines = [f"# {line}" for line in about]
    lines += ["# built by scripts/build_lexicons.py; do not edit by hand", "\t".join(header)]
    lines += ["\t".join(r) for r in unique]
    (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(unique)


# ---------------------------------------------------------------- administrative units


def _dataset(whl: zipfile.ZipFile) -> sqlite3.Connection:
    """The package's SQLite file, loaded into memory straight from the wheel."""
    db = sqlite3.connect(":memory:")
    db.deserialize(whl.read("vietnamadminunits/data/dataset.db"))
    return db


def build_units(whl: zipfile.ZipFile, out: Path) -> dict[str, int]:
    db = _dataset(whl)
    src = f"source: {ADMIN_UNITS.label}"
    counts = {}
    counts["units_2025_07.tsv"] = write_tsv(
        "units_2025_07.tsv", ("province_code", "province", "unit_code", "unit", "kind"),
        [src, "file: vietnamadminunits/data/dataset.db, table admin_units",
         "what: provinces and communes/wards after the 1 July 2025 reform (no district level)"],
        db.execute("select provinceCode, province, wardCode, ward, wardType from admin_units"), out,
    )  # fmt: skip
    counts["units_2025_01.tsv"] = write_tsv(
        "units_2025_01.tsv", ("province_code", "province", "district_code", "district", "unit_code", "unit"),
        [src, "file: vietnamadminunits/data/dataset.db, table admin_units_legacy",
         "what: provinces, districts and communes/wards just before the 1 July 2025 reform (January 2025)"],
        (r for r in db.execute("select provinceCode, province, districtCode, district, wardCode, ward "
                               "from admin_units_legacy") if r[5]), out,
    )  # fmt: skip
    counts["mergers_2025.tsv"] = write_tsv(
        "mergers_2025.tsv", ("old_unit_code", "new_unit_code", "default"),
        [src, "file: vietnamadminunits/data/converter_2025.json with the codes of dataset.db",
         "what: the January 2025 commune/ward each post-reform unit was formed from; an old unit split between",
         "several new ones has a row for each (default = 1 on the one the package assigns by default)"],
        _mergers(whl, db), out,
    )  # fmt: skip
    return counts


def _mergers(whl: zipfile.ZipFile, db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    conv = json.loads(whl.read("vietnamadminunits/data/converter_2025.json"))
    old = {f"{p}_{d}_{w}": code for p, d, w, code in
           db.execute("select provinceKey, districtKey, wardKey, wardCode from admin_units_legacy")}  # fmt: skip
    new = {(p, w): code for p, w, code in db.execute("select provinceKey, wardKey, wardCode from admin_units")}
    rows = []
    for province, units in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward, old_keys in units.items():
            rows += [(old[k], new[(province, ward)], "1") for k in old_keys if k in old and (province, ward) in new]
    for province, splits in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, targets in splits.items():
            for t in targets:
                if old_key in old and (province, t["newWardKey"]) in new:
                    rows.append((old[old_key], new[(province, t["newWardKey"])], "1" if t["isDefaultNewWard"] else "0"))
    return rows


_XLSX = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _xlsx_rows(data: bytes) -> list[dict[str, str]]:
    """The first sheet of an .xlsx as dicts by header (standard library: the package ships no CSV)."""
    book = zipfile.ZipFile(io.BytesIO(data))
    strings = ["".join(t.text or "" for t in si.iter(f"{_XLSX}t"))
               for si in ET.fromstring(book.read("xl/sharedStrings.xml")).findall(f"{_XLSX}si")]  # fmt: skip
    table: list[dict[str, str]] = []
    for row in ET.fromstring(book.read("xl/worksheets/sheet1.xml")).iter(f"{_XLSX}row"):
        cells = {}
        for c in row.findall(f"{_XLSX}c"):
            column = "".join(ch for ch in c.get("r", "") if ch.isalpha())
            v = c.find(f"{_XLSX}v")
            if v is not None and v.text is not None:
                cells[column] = strings[int(v.text)] if c.get("t") == "s" else v.text
        table.append(cells)
    header = table[0]
    return [{header[k]: v for k, v in r.items() if k in header} for r in table[1:]]


def build_units_2021(whl: zipfile.ZipFile, out: Path) -> dict[str, int]:
    rows = _xlsx_rows(whl.read("geoapivietnam/data/gso_province_district_ward.xlsx"))
    name = "units_2021.tsv"
    return {name: write_tsv(
        name, ("province", "district", "unit"),
        [f"source: {GSO_2021.label}", "file: geoapivietnam/data/gso_province_district_ward.xlsx (statistics office export)",
         "what: provinces, districts and communes/wards of 2021-2024 (names as printed on cards of those years)"],
        ((r["province"], r.get("district", ""), r["ward"]) for r in rows if r.get("province") and r.get("ward")), out,
    )}  # fmt: skip


def build_units_pre2021(whl: zipfile.ZipFile, out: Path) -> dict[str, int]:
    text = whl.read("vnaddress/constants/standard_addresses.py").decode("utf-8")
    assign = next(n for n in ast.parse(text).body if isinstance(n, ast.Assign))
    triples = [a.split(", ") for a in ast.literal_eval(assign.value)]
    name = "units_pre2021.tsv"
    return {name: write_tsv(
        name, ("province", "district", "unit"),
        [f"source: {PRE_2021.label}", "file: vnaddress/constants/standard_addresses.py (STANDARD_ADDRESSES)",
         "what: communes/wards, districts and provinces of 2019-2020, short names without the unit type"],
        ((t[2], t[1], t[0]) for t in triples if len(t) == 3), out,
    )}  # fmt: skip


# ---------------------------------------------------------------- transcribed vocabularies


def build_transcribed(out: Path) -> dict[str, int]:
    """Streets and land-use vocabulary: rows transcribed from public sources, each with its source."""
    counts = {}
    for name, header, what in (
        ("hue_streets.tsv", ("street", "source"), "street names of Huế read in official public pages"),
        ("land_use_codes.tsv", ("code", "name", "source"), "land-type codes and their legal names"),
        ("land_use_phrases.tsv", ("kind", "phrase", "source"),
         "the wording certificates use for use form, term and origin (origin as its legal parts)"),
    ):  # fmt: skip
        with (TRANSCRIPTIONS / name).open(encoding="utf-8") as fh:
            rows = [r for r in csv.reader((line for line in fh if not line.startswith("#")), delimiter="\t")]
        if rows[0] != list(header):
            raise SystemExit(f"{TRANSCRIPTIONS / name}: header {rows[0]} is not {list(header)}")
        body = [r for r in rows[1:] if r]
        if any(len(r) != len(header) or not all(c.strip() for c in r) for r in body):
            raise SystemExit(f"{TRANSCRIPTIONS / name}: every row needs {len(header)} non-empty cells")
        counts[name] = write_tsv(name, header, [f"source: transcriptions in scripts/lexicon_sources/{name}, "
                                                "each row with the public source it was read from", f"what: {what}"],
                                 body, out)  # fmt: skip
    return counts


def build(out: Path, cache: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = build_units(fetch(ADMIN_UNITS, cache), out)
    counts |= build_units_2021(fetch(GSO_2021, cache), out)
    counts |= build_units_pre2021(fetch(PRE_2021, cache), out)
    counts |= build_transcribed(out)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "land-intake-lexicon-wheels")
    ap.add_argument("--check", action="store_true", help="rebuild elsewhere and fail if the committed files differ")
    args = ap.parse_args(argv)
    if not args.check:
        for name, n in build(OUT, args.cache).items():
            print(f"{name:<24} {n:>6} rows")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), args.cache)
        stale = [p.name for p in sorted(Path(tmp).iterdir())
                 if not (OUT / p.name).is_file() or (OUT / p.name).read_bytes() != p.read_bytes()]  # fmt: skip
    if stale:
        print("out of date: " + ", ".join(stale) + " (run scripts/build_lexicons.py)", file=sys.stderr)
        return 1
    print("worker/lexicons/data is what the sources give")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
