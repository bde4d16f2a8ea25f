"""Word lists from outside the project, for the readers: Vietnam's administrative units in four eras (before
2021, 2021-2024, January 2025, after the July 2025 reform) with the 2025 mergers, streets of Huế, and the
land-use vocabulary of certificates.

Every list is built by scripts/build_lexicons.py from named sources (PyPI packages exporting the official
unit catalogue, legal texts) and never from fixtures/, so a reader that uses them knows nothing the synthetic
generator drew; each data file's header says where it came from (`sources()`), and docs/lexicons.md which
reader vocabularies they are meant to replace. Loading is lazy and cached: `units()` of every era reads
~2 MB of TSV once (~0.6 s CPU), later calls are free.

    units(era="2025-07")          every unit of an era (or of all eras) as `Unit`
    place_names()                 every unit name, full (`Phường Vĩnh Ninh`) and short (`Vĩnh Ninh`)
    successors("19783")           post-reform unit codes an old commune/ward went into, default first
    streets()                     street names of Huế (a seed, see docs/lexicons.md)
    land_use_codes()              land-type code -> legal name (`ODT` -> `Đất ở tại đô thị`)
    land_use_phrases("term")      the wording of use form, term and origin entries, by kind
    sources()                     file -> the header lines that name its source, version and licence
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

ERAS = ("pre2021", "2021", "2025-01", "2025-07")
_ERA_FILES = {"pre2021": "units_pre2021.tsv", "2021": "units_2021.tsv", "2025-01": "units_2025_01.tsv",
              "2025-07": "units_2025_07.tsv"}  # fmt: skip
# longest first, so `Thị trấn` is not read as `Thị` + rest; the source files print the type before the name
UNIT_KINDS = ("Thành phố", "Thị trấn", "Thị xã", "Đặc khu", "Phường", "Quận", "Huyện", "Tỉnh", "Xã")
PHRASE_KINDS = ("form", "term", "origin_basis", "origin_money", "origin_transfer")


@dataclass(frozen=True)
class Unit:
    """One administrative unit as one source lists it."""

    name: str  # as printed with its type (`Phường Vĩnh Ninh`); the short name when the source gives no type
    short: str  # without the type (`Vĩnh Ninh`); numbered wards keep it (`Phường 4`)
    kind: str  # one of UNIT_KINDS, or "" when the source gives none
    level: str  # province | district | commune
    province: str  # short name of its province (`Thừa Thiên Huế`, `Huế`)
    district: str  # short name of its district ("" for provinces and after the 2025 reform)
    code: str | None  # the statistics office's code where the source has it
    era: str  # one of ERAS


def split_kind(name: str) -> tuple[str, str]:
    """(`Phường`, `Vĩnh Ninh`) from `Phường Vĩnh Ninh`; (``, name) when it starts with no unit type."""
    for kind in UNIT_KINDS:
        if name.startswith(kind + " "):
            rest = name[len(kind) + 1 :]
            return kind, (name if rest.isdigit() else rest)
    return "", name


def _rows(file: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath("data", file).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def _unit(name: str, level: str, province: str, district: str, code: str | None, era: str) -> Unit:
    kind, short = split_kind(name)
    return Unit(name, short, kind, level, split_kind(province)[1], split_kind(district)[1], code or None, era)


@cache
def _era(era: str) -> tuple[Unit, ...]:
    out: dict[tuple[str, str, str, str], Unit] = {}
    for r in _rows(_ERA_FILES[era]):
        province, district = r["province"], r.get("district", "")
        for u in (
            _unit(province, "province", province, "", r.get("province_code"), era),
            _unit(district, "district", province, "", r.get("district_code"), era) if district else None,
            _unit(r["unit"], "commune", province, district, r.get("unit_code"), era),
        ):
            if u is not None:
                out.setdefault((u.level, u.name, u.province, u.district), u)
    return tuple(out.values())


def units(era: str | None = None) -> tuple[Unit, ...]:
    """The units of one era, or of every era (a unit that kept its name appears once per era)."""
    if era is not None and era not in ERAS:
        raise ValueError(f"unknown era {era!r}: one of {', '.join(ERAS)}")
    return _era(era) if era else tuple(u for e in ERAS for u in _era(e))


@cache
def place_names() -> frozenset[str]:
    return frozenset(n for u in units() for n in (u.name, u.short))


@cache
def _successors() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[tuple[bool, str]]] = {}
    for r in _rows("mergers_2025.tsv"):
        table.setdefault(r["old_unit_code"], []).append((r["default"] != "1", r["new_unit_code"]))
    return {old: tuple(code for _, code in sorted(new)) for old, new in table.items()}


def successors(old_code: str) -> tuple[str, ...]:
    """The post-reform unit(s) a January 2025 commune/ward was merged into, the default one first."""
    return _successors().get(old_code, ())


@cache
def streets() -> tuple[str, ...]:
    return tuple(r["street"] for r in _rows("hue_streets.tsv"))


@cache
def land_use_codes() -> dict[str, str]:
    return {r["code"]: r["name"] for r in _rows("land_use_codes.tsv")}


@cache
def _phrases() -> tuple[tuple[str, str], ...]:
    return tuple((r["kind"], r["phrase"]) for r in _rows("land_use_phrases.tsv"))


def land_use_phrases(kind: str | None = None) -> tuple[str, ...]:
    if kind is not None and kind not in PHRASE_KINDS:
        raise ValueError(f"unknown phrase kind {kind!r}: one of {', '.join(PHRASE_KINDS)}")
    return tuple(p for k, p in _phrases() if kind in (None, k))


@cache
def sources() -> dict[str, tuple[str, ...]]:
    out = {}
    for entry in sorted(resources.files(__package__).joinpath("data").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".tsv"):
            head = [line[2:] for line in entry.read_text(encoding="utf-8").splitlines() if line.startswith("# ")]
            out[entry.name] = tuple(head)
    return out


__all__ = ["ERAS", "PHRASE_KINDS", "UNIT_KINDS", "Unit", "land_use_codes", "land_use_phrases", "place_names",
           "sources", "split_kind", "streets", "successors", "units"]  # fmt: skip
