"""worker/lexicons: the word lists built from outside sources (scripts/build_lexicons.py), checked against
facts of domain.md, and kept apart from the synthetic generator's vocabulary."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from worker import lexicons as lx

REPO = Path(__file__).resolve().parents[2]


def test_hue_after_the_2025_reform_has_its_40_units_with_their_codes() -> None:
    hue = {u.short: u for u in lx.units("2025-07") if u.level == "commune" and u.province == "Huế"}
    assert len(hue) == 40
    assert sum(u.kind == "Phường" for u in hue.values()) == 21 and sum(u.kind == "Xã" for u in hue.values()) == 19
    # domain.md §3
    codes = {"Phú Xuân": "19753", "Kim Long": "19774", "Vỹ Dạ": "19777", "Thuận Hóa": "19789", "Hương An": "19804",
             "Thủy Xuân": "19813", "An Cựu": "19815", "Thuận An": "19900", "Phú Bài": "19960",
             "Hương Thủy": "19975", "Hương Trà": "19996"}  # fmt: skip
    assert {name: hue[name].code for name in codes} == codes
    assert len({u.province for u in lx.units("2025-07") if u.level == "province"}) == 34


def test_thuan_hoa_was_formed_from_the_six_old_wards() -> None:
    before = {u.code: u.short for u in lx.units("2025-01") if u.level == "commune" and u.province == "Huế"}
    merged = {name for code, name in before.items() if lx.successors(code)[:1] == ("19789",)}
    assert merged == {"Phú Hội", "Phú Nhuận", "Phường Đúc", "Vĩnh Ninh", "Phước Vĩnh", "Trường An"}
    assert lx.successors("not a code") == ()


def test_older_eras_keep_the_names_cards_and_certificates_print() -> None:
    for era in ("pre2021", "2021", "2025-01"):
        assert len({u.province for u in lx.units(era) if u.level == "province"}) == 63, era
    in_2021 = {(u.short, u.district) for u in lx.units("2021") if u.province == "Thừa Thiên Huế"}
    assert ("Gia Hội", "Huế") in in_2021  # the 2021 merger's new ward
    before_2021 = {(u.short, u.district) for u in lx.units("pre2021") if u.province == "Thừa Thiên Huế"}
    assert ("Phú Cát", "Huế") in before_2021 and ("Gia Hội", "Huế") not in before_2021
    names = lx.place_names()
    assert {"Tỉnh Thừa Thiên Huế", "Thừa Thiên Huế", "Phường Vĩnh Ninh", "Vĩnh Ninh", "Huyện Phú Vang"} <= names
    with pytest.raises(ValueError, match="unknown era"):
        lx.units("1999")


def test_unit_kinds_split_from_names() -> None:
    assert lx.split_kind("Phường Phường Đúc") == ("Phường", "Phường Đúc")
    assert lx.split_kind("Thị trấn Sịa") == ("Thị trấn", "Sịa")
    assert lx.split_kind("Phường 4") == ("Phường", "Phường 4")
    assert lx.split_kind("Vĩnh Ninh") == ("", "Vĩnh Ninh")


def test_land_use_vocabulary_keeps_meaning_bearing_parts_apart() -> None:
    codes = lx.land_use_codes()
    assert codes["ODT"] == "Đất ở tại đô thị" and codes["ONT"] == "Đất ở tại nông thôn" and len(codes) >= 60
    money = lx.land_use_phrases("origin_money")
    assert "có thu tiền sử dụng đất" in money and "không thu tiền sử dụng đất" in money
    assert {"Nhận chuyển nhượng", "Nhận thừa kế", "Nhận tặng cho"} <= set(lx.land_use_phrases("origin_transfer"))
    assert "Lâu dài" in lx.land_use_phrases("term")
    with pytest.raises(ValueError):
        lx.land_use_phrases("colour")


def test_every_data_file_names_its_source() -> None:
    sources = lx.sources()
    assert set(sources) == {p.name for p in (REPO / "worker" / "lexicons" / "data").glob("*.tsv")}
    for name, header in sources.items():
        first = header[0]
        assert first.startswith("source: "), name
        assert "licence" in first or "transcriptions in scripts/lexicon_sources" in first, name
    assert lx.streets() and all(s == s.strip() for s in lx.streets())


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_lexicons_and_readers_know_nothing_of_the_generator() -> None:
    files = [REPO / "scripts" / "build_lexicons.py", *(REPO / "worker" / "lexicons").glob("*.py"),
             *(REPO / "worker" / "extract").glob("*.py")]  # fmt: skip
    for f in files:
        assert not any(m == "fixtures" or m.startswith("fixtures.") for m in _imports(f)), f


def test_transcribed_lists_are_what_the_build_script_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_lexicons", REPO / "scripts" / "build_lexicons.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build  # its dataclasses look their module up
    spec.loader.exec_module(build)
    build.build_transcribed(tmp_path)  # the package-derived files need the pinned wheels: `--check` does those
    for p in tmp_path.iterdir():
        assert p.read_bytes() == (REPO / "worker" / "lexicons" / "data" / p.name).read_bytes(), p.name
