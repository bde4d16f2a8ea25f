"""`bench real`: the hashed-truth scorer agrees with the shared realset.py, and the benchmark runs end to end on
synthetic renders (never a real image), printing counts and field names but no value."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench import real
from bench import realset as rs
from bench.realset import ManifestRow, digest, hash_truth

REPO = Path(__file__).resolve().parents[2]

# synthetic values and the hashes the shared realset.py gives them (computed with it once)
GOLDEN = [
    ("full_name", "NGUYỄN VĂN AN", "d7c7f8f82dd5ee0556ec"),
    ("full_name", "Nguyễn  Văn An.", "d7c7f8f82dd5ee0556ec"),  # case, spacing and punctuation do not count
    ("id_number", "046 090 012 345", "a10b8d90368b902230f0"),
    ("certificate_serial", "CS 123456", "01993f2dd5964a84ac3c"),
    ("registry_number", "CN00.383", "befd5074c90e6c88a496"),
    ("area_m2", "125,4", "8a9d33c9cfa8fe079429"),
    ("area_m2", 125.4, "8a9d33c9cfa8fe079429"),
    ("sex", "Nữ", "402cf25a2069a63ad444"),
    ("date_of_birth", "1990-03-15", "319ee854a64c0c61c4e8"),
    ("place_of_residence", "Phường Vĩnh Ninh, TP. Huế", "0c7dc42a25c393224390"),
    ("mrz", ["IDVNM0900123450046090012345<<8", " 9003152M3003150VNM<<<<<<<<<<<0"], "e4421d359e085a3ecdd6"),
    ("birth_year", 1965, "11285bce6839277fb69d"),
    ("parcel_number", "345", "3a57797b5ef1cd136b7a"),
    ("area_m2", "abc", ""),
    ("full_name", None, ""),
    ("full_name", "", ""),
]


def _shared_realset() -> ModuleType | None:
    """The shared realset.py beside the repository (../shared/real), when this checkout has it."""
    for base in (REPO.parent, REPO.parent.parent):
        path = base / "shared" / "real" / "realset.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location("shared_realset", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


@pytest.mark.parametrize(("field", "value", "expected"), GOLDEN)
def test_digest_matches_the_shared_rules(field: str, value: Any, expected: str) -> None:
    assert digest(field, value) == expected


def _random_values(rng: random.Random) -> list[tuple[str, Any]]:
    letters = "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXYaăâđêôơư áàảãạ.,-/ 0123456789"
    out: list[tuple[str, Any]] = []
    for field in ("full_name", "id_number", "sex", "place_of_origin", "certificate_serial", "area_m2", "mrz",
                  "registry_number", "date_of_expiry", "birth_year"):  # fmt: skip
        for _ in range(30):
            text = "".join(rng.choice(letters) for _ in range(rng.randrange(0, 24)))
            out.append((field, text))
        out.append((field, rng.uniform(0, 9999)))
        out.append((field, [text, text[::-1]]))
    return out


def test_normalise_agrees_with_the_shared_file_on_random_synthetic_values() -> None:
    shared = _shared_realset()
    if shared is None:
        pytest.skip("../shared/real/realset.py is not beside this checkout (the golden hashes above still ran)")
    for field, value in _random_values(random.Random(5)):
        assert digest(field, value) == shared.digest(field, value), (field, value)


def _synthetic_manifest_and_results() -> tuple[list[ManifestRow], list[dict[str, Any]]]:
    """Two made-up cards and a certificate page with right, wrong, missing and owner fields."""
    rows = [
        ManifestRow("a_front.jpg", "synthetic", "0", "-", "cccd_front", "cccd2021", "phone_photo",
                    hash_truth({"id_number": "046090012345", "full_name": "TRẦN THỊ BÌNH", "sex": "female",
                                "place_of_residence": "Phường An Cựu, TP. Huế"})),
        ManifestRow("b_front.jpg", "synthetic", "0", "-", "cmnd_front", "cmnd9", "scan",
                    hash_truth({"id_number": "191234567", "full_name": "LÊ VĂN CƯỜNG"})),
        ManifestRow("c_p1.jpg", "synthetic", "0", "-", "gcn_page1", "gcn", "scan",
                    hash_truth({"certificate_serial": "BU 837192"},
                               [{"full_name": "HỒ VĂN DŨNG", "birth_year": 1960}, {"full_name": "LÊ THỊ EM", "birth_year": 1962}])),
        ManifestRow("d_lost.jpg", "synthetic", "0", "-", "cccd_back", "cccd2021", "crop",
                    hash_truth({"issue_date": "2021-07-01"})),
    ]  # fmt: skip

    def fv(value: Any, confidence: float) -> dict[str, Any]:
        return {"value": value, "confidence": confidence}

    results: list[dict[str, Any]] = [
        {"submission_id": "a_front", "documents": [
            {"doc_type": "cccd_front", "fields": {"id_number": fv("046090012345", 0.99), "full_name": fv("TRẦN THI BÌNH", 0.95),
                                                  "sex": fv("Nữ", 0.8), "place_of_residence": fv("", 0.5)}, "owners": []},
            {"doc_type": "unknown", "fields": {}, "owners": []}], "cpu_seconds": 0.5},
        {"submission_id": "b_front", "documents": [
            {"doc_type": "cccd_front", "fields": {"id_number": fv("191234567", 0.97), "full_name": fv("LÊ VĂN CƯỜNG", 0.62)}, "owners": []}]},
        {"submission_id": "c_p1", "documents": [
            {"doc_type": "gcn_page1", "fields": {"certificate_serial": fv("E 837192", 0.995)},
             "owners": [{"full_name": fv("Hồ Văn Dũng", 0.93), "birth_year": fv(1961, 0.7)}]}], "cpu_seconds": 1.5},
    ]  # fmt: skip
    return rows, results


def test_scorer_counts(tmp_path: Path) -> None:
    rows, results = _synthetic_manifest_and_results()
    report = rs.summarise(rs.score_all(rows, {r["submission_id"]: r for r in results}))
    assert report["documents"] == 4 and report["doc_type_right"] == 2  # a CMND read as a CCCD; one image unread
    f = report["fields"]
    assert (f["id_number"]["right"], f["full_name"]["right"], f["full_name"]["wrong"]) == (2, 1, 1)
    assert f["full_name"]["wrong_high"] == 1  # the dropped tone mark at 0.95
    assert f["certificate_serial"]["wrong_high"] == 1  # the first letter dropped at 0.995
    assert f["place_of_residence"]["missing"] == 1 and f["issue_date"]["missing"] == 1
    assert (f["owners.full_name"]["right"], f["owners.full_name"]["missing"]) == (1, 1)
    assert f["owners.birth_year"]["wrong"] == 1 and f["owners.birth_year"]["wrong_high"] == 0
    assert report["all_fields"] == {**report["all_fields"], "n": 12, "right": 5, "wrong": 3, "missing": 4}
    assert report["by_design"]["cmnd9"]["doc_type_accuracy"] == 0.0
    assert report["cpu_seconds_per_image"] == {"measured": 2, "mean": 1.0, "median": 1.0}
    # the manifest survives a write and a read
    rs.write_manifest(tmp_path / "m.tsv", rows)
    assert rs.read_manifest(tmp_path / "m.tsv") == rows


def test_scorer_agrees_with_the_shared_realset_score(tmp_path: Path) -> None:
    shared = _shared_realset()
    if shared is None:
        pytest.skip("../shared/real/realset.py is not beside this checkout")
    rows, results = _synthetic_manifest_and_results()
    rs.write_manifest(tmp_path / "m.tsv", rows)
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    shared.score(tmp_path / "m.tsv", tmp_path / "r.jsonl", tmp_path / "shared.json")
    theirs = json.loads((tmp_path / "shared.json").read_text())
    ours = rs.summarise(rs.score_all(rs.read_manifest(tmp_path / "m.tsv"), rs.load_results(tmp_path / "r.jsonl")))
    assert ours["doc_type_accuracy"] == theirs["doc_type_accuracy"]
    assert ours["all_fields"]["ece"] == theirs["ece"]
    assert (ours["all_fields"]["wrong"], ours["all_fields"]["missing"], ours["all_fields"]["wrong_high"]) == (
        theirs["wrong"], theirs["missing"], theirs["wrong_high"])  # fmt: skip
    for name, t in theirs["fields"].items():
        o = ours["fields"][name]
        assert (o["n"], o["accuracy"], o["wrong"], o["missing"], o["wrong_high"]) == (
            t["n"], t["accuracy"], t["wrong"], t["missing"], t["wrong_high"]), name  # fmt: skip


def test_synthetic_set_end_to_end_prints_no_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three synthetic renders through the real pipeline; then the saved output is scored again without reading."""
    saved, report_path = tmp_path / "saved.jsonl", tmp_path / "report.json"
    assert real.main(["--synthetic", "3", "--seed", "5", "--workers", "1", "--keep-synthetic", str(tmp_path / "set"),
                      "--json", str(report_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())["synthetic"]
    assert report["documents"] == 3 and report["all_fields"]["n"] > 10
    assert report["cpu_seconds_per_image"]["measured"] == 3
    assert {"id_number", "full_name", "date_of_birth"} <= set(report["fields"])
    rows = rs.read_manifest(tmp_path / "set" / "manifest.tsv")
    assert [r.design for r in rows] == ["cccd2021", "cmnd9", "gcn"]
    # nothing the generator wrote on the documents reaches the output: only counts and field names
    for case in real._synthetic_cases(3, 5):
        _, truth = real._render_synthetic(case)
        for name, value in truth["fields"].items():
            if name in real.SCORED_FIELDS[truth["doc_type"]] and isinstance(value, str) and len(value) >= 6:
                assert value not in out and value not in report_path.read_text()
    # the same set scored from saved output gives the same report, without the pipeline
    assert real.main(["--manifest", str(tmp_path / "set" / "manifest.tsv"), "--images", str(tmp_path / "set"),
                      "--workers", "1", "--save-results", str(saved)]) == 0  # fmt: skip
    assert real.main(["--manifest", str(tmp_path / "set" / "manifest.tsv"), "--results", str(saved),
                      "--json", str(tmp_path / "again.json")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "again.json").read_text())["real"]
    assert again["fields"] == report["fields"] and again["doc_type_right"] == report["doc_type_right"]


def test_usage_errors_say_what_to_do(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        real.main([])
    assert "--manifest" in capsys.readouterr().err
    assert real.main(["--manifest", str(tmp_path / "none.tsv"), "--images", str(tmp_path)]) == 3
