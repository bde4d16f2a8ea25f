"""The post-hoc calibrator (worker/extract/calibration.py): fitted on synthetic records it is monotone in the
confidence, bounded, never lifts a capped value to 0.9, and leaves the document it is given unchanged; and
`bench calibrate` over a couple of synthetic renders prints counts and rates but no value."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from bench import calibrate as bc
from bench import real
from bench.gcn import final_confidences
from models.document import Document, FieldValue
from worker.extract.calibration import (
    BOUNDS,
    CALIBRATION_PATH,
    HIGH,
    Calibrator,
    calibrated,
    family_of,
    fit,
    stored_calibrator,
)
from worker.extract.gcn.evidence import held_ceiling


def _records(seed: int, n: int = 600) -> tuple[list[str], list[float], list[bool], list[bool], list[bool]]:
    """Synthetic records whose confidences are over-confident (truth rate = confidence**2), warned ones worse."""
    rng = random.Random(seed)
    fams, confs, warns, codes, right = [], [], [], [], []
    for _ in range(n):
        c = rng.random()
        w = rng.random() < 0.2
        fams.append(rng.choice(["card_names", "card_codes_dates"]))
        confs.append(c)
        warns.append(w)
        codes.append(rng.random() < 0.3)
        right.append(rng.random() < c**2 * (0.5 if w else 1.0))
    return fams, confs, warns, codes, right


def test_fitted_calibrator_is_monotone_bounded_and_learns_the_overconfidence() -> None:
    cal = fit(*_records(1))
    assert set(cal.weights) == {"card_names", "card_codes_dates"}
    grid = np.linspace(0.0, 1.0, 101)
    for fam in cal.weights:
        for w in (False, True):
            out = [cal.apply(fam, float(c), w, False) for c in grid]
            assert all(b >= a for a, b in itertools.pairwise(out))  # monotone in the confidence
            assert all(BOUNDS[0] <= p <= BOUNDS[1] for p in out)
            assert all(p < HIGH for c, p in zip(grid, out, strict=True) if c < HIGH)  # a capped value stays capped
        # over-confident data: a middling confidence comes down, and a warning lowers it further
        assert cal.apply(fam, 0.7) < 0.65
        assert cal.apply(fam, 0.7, True) < cal.apply(fam, 0.7, False)


def test_too_few_values_keep_the_confidence_and_json_round_trips() -> None:
    fams, confs, warns, codes, right = _records(2, n=60)
    cal = fit(fams, confs, warns, codes, right, min_values=1000)
    assert cal.weights == {} and cal.apply("card_names", 0.73) == 0.73
    fitted = Calibrator(fit(*_records(3)).weights, {"command": "test"})
    again = Calibrator.from_json(fitted.to_json())
    assert again.weights == fitted.weights and again.provenance == {"command": "test"}
    assert Calibrator.from_json(json.dumps({"features": ["other"], "weights": {"x": [1.0]}})).weights == {}


def test_calibrated_document_is_pure_and_covers_owners() -> None:
    cal = fit(*_records(4))
    doc = Document(
        source="synthetic.jpg", sha256="0" * 64, doc_type="cccd_front",
        fields={"full_name": FieldValue(value="NGUYỄN VĂN AN", confidence=0.7), "sex": FieldValue(value=None)},
        warnings=["full_name_disagreement: two readings"],
    )  # fmt: skip
    before = doc.model_dump()
    out = calibrated(doc, cal)
    assert doc.model_dump() == before  # the input is left unchanged
    assert calibrated(doc, cal).model_dump() == out.model_dump()  # same in, same out
    assert out.fields["full_name"].confidence == cal.apply("card_names", 0.7, True, False)
    assert out.fields["sex"].confidence == 0.0  # no value, nothing to calibrate
    assert calibrated(doc, Calibrator()).model_dump() == before  # no weights: the identity
    assert family_of("gcn_page1", "full_name") == "certificate"


def test_bench_calibrate_on_synthetic_renders_prints_no_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    args = ["--synthetic", "2", "--seed", "5", "--workers", "1", "--synthetic-dir", str(tmp_path / "set")]
    assert bc.main([*args, "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    syn = report["report"]["synthetic"]
    assert syn["images"] >= 1 and syn["given"]["values"] > 5
    assert report["applied"] is False  # never applied without a real set
    for case in real._synthetic_cases(2, 5):
        _, truth = real._render_synthetic(case)
        for name, value in truth["fields"].items():
            if isinstance(value, str) and len(value) >= 6:
                assert value not in out and value not in report_path.read_text(), name
    # the saved set is read again without the pipeline and gives the same figures
    assert bc.main([*args, "--json", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["report"] == report["report"]


def test_the_stored_calibrator_says_how_it_was_fitted_and_never_lifts_a_value_to_auto_accept() -> None:
    """calibration.json is stored by `bench calibrate --write-model` only when cross-validation on the real
    set improved ECE: it names its command and figures, is monotone in the confidence, and a value the
    readers held below 0.9 stays below it (auto-accept trusts only the readers' own high confidence)."""
    assert CALIBRATION_PATH.is_file()
    stored = stored_calibrator()
    assert stored.weights and "bench calibrate" in str(stored.provenance["command"])
    assert float(stored.provenance["real_ece_leave_one_repo_out"]) < float(stored.provenance["real_ece_given"])
    grid = [i / 100 for i in range(1, 100)]
    for family, warned_, backed in itertools.product(stored.weights, (False, True), (False, True)):
        out = [stored.apply(family, c, warned_, backed) for c in grid]
        assert out == sorted(out), family
        assert all(o < HIGH for c, o in zip(grid, out, strict=True) if c < HIGH), family


def test_without_a_calibrator_the_readers_confidences_stand() -> None:
    doc = Document(source="s.jpg", sha256="0" * 64, doc_type="cmnd_front",
                   fields={"id_number": FieldValue(value="012345678", confidence=0.93, sources=["ocr"])})  # fmt: skip
    assert calibrated(doc, Calibrator()).model_dump() == doc.model_dump()


def _rep(given: float, loio: float, loro: float, interval: tuple[float, float], wrong: tuple[int, int]) -> dict:
    def m(ece: float, w: int) -> dict:
        return {"ece": ece, "wrong_high": w}

    return {"real": {"given": m(given, wrong[0]), "calibrated_leave_one_image_out": m(loio, wrong[1]),
                     "calibrated_leave_one_repo_out": m(loro, wrong[1]),
                     "ece_gain_90pct_leave_one_image_out": interval}}  # fmt: skip


def test_a_calibrator_is_stored_only_when_it_clearly_helps_real_documents() -> None:
    assert bc.improves(_rep(0.10, 0.05, 0.06, (0.02, 0.08), (3, 3)))[0]
    assert not bc.improves(_rep(0.034, 0.029, 0.033, (-0.015, 0.033), (2, 2)))[0]  # inside the noise
    assert not bc.improves(_rep(0.10, 0.05, 0.095, (0.02, 0.08), (3, 3)))[0]  # not across repositories
    assert not bc.improves(_rep(0.10, 0.05, 0.06, (0.02, 0.08), (3, 4)))[0]  # more confidently wrong
    assert not bc.improves({})[0]  # synthetic evidence alone never decides


def _world_page(cert: int, rows: list[dict]) -> dict:
    case = {"cert": cert, "form": "gcn_2009", "page": 1, "page_index": 0, "profile": "phone", "design": "world"}
    return {"case": case, "doc_type": "gcn_page1", "warnings": ["owner_1_id_number_mismatch: x"], "rows": rows}


def _row(name: str, ok: bool, conf: float, held: bool = False, warn: str = "", got: str | None = "1") -> dict:
    return {"field": name, "got": got, "ok": ok, "conf": conf, "held": held, "sources": ["ocr"], "warn_name": warn}


def test_world_renders_are_certificate_records_with_held_values_at_todays_ceiling() -> None:
    rows = [
        _row("parcel_number", True, 0.97, warn="parcel_number"),
        _row("area_m2", False, 0.85, held=True, warn="area_m2"),  # read under a higher ceiling
        _row("owner.id_number", False, 0.4, warn="owner_1_id_number"),
        _row("map_sheet_number", False, 0.0, got=None),  # nothing given: nothing to calibrate
    ]
    recs = bc.world_records([_world_page(3, rows)], 1023)
    assert [r.field for r in recs] == ["parcel_number", "area_m2", "owner.id_number"]
    assert {(r.source, r.repo, r.family, r.image) for r in recs} == {
        ("world", "world", "certificate", "world-1023/3-0")
    }
    assert recs[1].confidence == min(0.85, held_ceiling()) and recs[0].confidence == 0.97
    assert [r.warned for r in recs] == [False, False, True] and not any(r.code_backed for r in recs)


def _world_dump(path: Path, n: int, seed: int) -> Path:
    """n world pages whose confidences over-promise (right with the cube of the confidence), as bench gcn
    dumps them."""
    rng = random.Random(seed)
    confs = [[rng.uniform(0.5, 0.99) for _ in range(6)] for _ in range(n)]
    pages = [_world_page(i, [_row(f"f{k}", rng.random() < c**3, c, warn=f"f{k}") for k, c in enumerate(cs)])
             for i, cs in enumerate(confs)]  # fmt: skip
    path.write_text(json.dumps(pages), encoding="utf-8")
    return path


def test_bench_calibrate_fits_on_world_renders_and_holds_them_out_as_a_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = _world_dump(tmp_path / "world.json", 12, 3)
    args = ["--world", "12", "--world-seed", "1023", "--world-dump", str(dump), "--json", str(tmp_path / "r.json")]
    assert bc.main(args) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    world = report["report"]["world"]
    assert world["values_given"] == 72 and world["images"] == 12 and report["applied"] is False
    # fitted on the other world pages, the over-promise is learnt; held out whole, nothing else teaches it
    assert world["calibrated_leave_one_image_out"]["ece"] < world["given"]["ece"] - 0.05
    assert world["calibrated_leave_one_repo_out"] == world["given"]
    assert "== world: 72 values given from 12 images" in capsys.readouterr().out


def test_world_renders_of_an_evaluation_seed_are_never_fitted_on(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bc.main(["--world", "2", "--world-seed", "23", "--world-dump", str(_world_dump(tmp_path / "w.json", 2, 2))])


def test_bench_gcn_gives_world_confidences_as_documents_give_them() -> None:
    """bench gcn reads the readers' confidences; its final figure maps them as document.py does."""
    cal = Calibrator({"certificate": (-1.0, 1.0, -1.0, 0.5)})
    rows = [_row("parcel_number", True, 0.97, warn="parcel_number"), _row("area_m2", False, 0.0, got=None),
            _row("owner.id_number", False, 0.8, warn="owner_1_id_number")]  # fmt: skip
    rows[0]["sources"] = ["ocr", "qr"]
    final = final_confidences([_world_page(1, rows)], cal)
    assert final == [
        (cal.apply("certificate", 0.97, False, True), True),
        (0.0, False),  # nothing given: nothing to calibrate
        (cal.apply("certificate", 0.8, True, False), False),
    ]
    assert final_confidences([_world_page(1, rows)], Calibrator()) is None  # no calibrator stored
    old = [{k: v for k, v in row.items() if k != "warn_name"} for row in rows]
    assert final_confidences([_world_page(1, old)], cal) is None  # dumped before rows said how warnings name them
