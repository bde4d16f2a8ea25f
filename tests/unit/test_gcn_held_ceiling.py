"""A value held for review (a failed rule or cross-check, a doubt) is given at most the share of such values
that were right where it was measured, stored beside the fitted weights; the benchmark measures that share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.gcn import fit_held_ceiling
from worker.extract.gcn import evidence
from worker.extract.gcn.evidence import MODEL, Evidence, confidence_of, held_ceiling, is_held


def _sure(**kw: object) -> Evidence:
    return Evidence("parcel_number", "128", **{"ocr_conf": 0.97, "min_conf": 0.95, "agree": 2, **kw})  # type: ignore[arg-type]


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The model read from a copy in tmp_path, so a test may write its own ceiling."""
    path = tmp_path / "gcn_confidence.json"
    path.write_text(MODEL.path.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(MODEL, "path", path)
    MODEL.reload()
    yield path
    monkeypatch.undo()
    MODEL.reload()


def test_held_values_are_the_failed_checks_and_doubts() -> None:
    assert not is_held(_sure())
    assert is_held(_sure(check=-1))
    assert is_held(_sure(valid=False))
    assert is_held(_sure(doubtful=True))


def test_a_held_value_never_exceeds_the_stored_ceiling(model_file: Path) -> None:
    data = json.loads(model_file.read_text(encoding="utf-8"))
    data["held_ceiling"] = {"share_right": 0.61, "values": 120}
    model_file.write_text(json.dumps(data), encoding="utf-8")
    MODEL.reload()
    assert held_ceiling() == 0.61
    assert confidence_of(_sure()) >= 0.9  # the same evidence, not held: the model decides
    assert confidence_of(_sure(check=-1)) == 0.61
    assert confidence_of(_sure(doubtful=True)) == 0.61
    weak = _sure(ocr_conf=0.2, min_conf=0.05, agree=0, disagree=2, doubtful=True)
    assert confidence_of(weak) < 0.61  # a ceiling, not a value: weaker evidence stays lower


def test_without_a_measured_ceiling_the_prior_holds(model_file: Path) -> None:
    data = json.loads(model_file.read_text(encoding="utf-8"))
    data.pop("held_ceiling", None)
    model_file.write_text(json.dumps(data), encoding="utf-8")
    MODEL.reload()
    assert held_ceiling() == evidence.HELD_CEILING_PRIOR


def _results(held_right: int, held_wrong: int) -> list[dict[str, object]]:
    rows = [{"held": True, "ok": True, "got": "1"}] * held_right + [
        {"held": True, "ok": False, "got": "2"}
    ] * held_wrong
    rows += [{"held": False, "ok": False, "got": "3"}] * 50 + [{"held": True, "ok": False, "got": None}] * 50
    return [{"rows": rows}]


def test_the_fit_is_the_share_right_of_held_values_given() -> None:
    fitted = fit_held_ceiling(_results(34, 16))
    assert fitted == {"share_right": 0.68, "values": 50, "capped": 50, "share_right_of_all_held": 0.68}


def test_the_ceiling_is_the_share_right_of_the_values_it_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Held values whose own evidence is weak stay below the ceiling and do not pull it down: 40 weak ones
    (p 0.2, a quarter right) and 60 strong ones (p 0.97, 70% right). Of all, 52% are right; the ceiling
    caps only the strong ones, and they are right 70% of the time."""
    monkeypatch.setattr(MODEL, "probability", lambda family, vector: vector[0])

    def row(p: float, ok: bool) -> dict[str, object]:
        return {"held": True, "ok": ok, "got": "1", "family": "number", "vector": [p]}

    rows = [row(0.2, i < 10) for i in range(40)] + [row(0.97, i < 42) for i in range(60)]
    fitted = fit_held_ceiling([{"rows": rows}])
    assert fitted == {"share_right": 0.7, "values": 100, "capped": 60, "share_right_of_all_held": 0.52}
    # too few strong ones to measure them apart: the share of all held values stands
    few = [row(0.2, i < 10) for i in range(40)] + [row(0.97, i < 14) for i in range(20)]
    assert fit_held_ceiling([{"rows": few}])["share_right"] == 0.4


def test_the_fit_refuses_too_few_held_values() -> None:
    with pytest.raises(SystemExit, match="fit on more certificates"):
        fit_held_ceiling(_results(10, 5))
