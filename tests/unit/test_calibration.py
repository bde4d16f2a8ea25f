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
