"""`bench engines` on synthetic renders (never a real image): every Tesseract engine gets a row of counts and
rates, nothing the generator printed on the cards reaches the output, and rapidocr's rows appear only where
it is installed (the bench says how to install it otherwise)."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench import engines, real


def _printed_values(n: int, seed: int) -> list[str]:
    """The numbers and dates the synthetic fronts carry, in the forms a leak could take."""
    out: list[str] = []
    cases = [c for c in real._synthetic_cases(n * 3, seed) if c["kind"] == "card" and c["side"] == "front"][:n]
    for case in cases:
        _, truth = real._render_synthetic(case)
        for name in engines.FIELDS:
            value = truth["fields"].get(name)
            if isinstance(value, str) and value:
                out.append(value)
                if name != "id_number":
                    d = date.fromisoformat(value)
                    out.append(f"{d.day:02d}/{d.month:02d}/{d.year}")
    return out


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str, dict[str, Any]]:
    report = tmp_path / "engines.json"
    assert engines.main(["--synthetic", "2", "--seed", "5", "--json", str(report), *extra]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err, json.loads(report.read_text())


def test_tesseract_engines_print_rates_and_no_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # as on an install without the `engines` extra
    out, err, report = _run(tmp_path, capsys)
    assert "pip install -e '.[engines]'" in err
    assert report["cards"] == 2
    assert set(report["engines"]) == {"pipeline", "tess-line", "tess-patterns"}
    pipeline = report["engines"]["pipeline"]
    assert sum(pipeline["all"].values()) >= 5  # two fronts: a number and a birth date each, and expiries
    assert pipeline["fields"]["id_number"]["right"] >= 1 and pipeline["cpu_seconds_per_card"] > 0
    for name in ("pipeline", "tess-line", "tess-patterns"):
        assert name in out
    assert "%" in out and "CPU s/card" in out and "rapidocr" not in out
    leaks = [v for v in _printed_values(2, 5) if v in out or v in err or v in json.dumps(report)]
    assert not leaks, "a value read from a card reached the output"


@pytest.mark.skipif(importlib.util.find_spec("rapidocr") is None, reason="rapidocr not installed (extra `engines`)")
def test_rapidocr_rows_when_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _, report = _run(tmp_path, capsys)
    assert {"rapidocr-crop", "rapidocr-card", "pipeline+crop-fill", "pipeline+card-unsure"} <= set(report["engines"])
    # the combination never gives fewer right values than the pipeline alone: it only fills what is missing
    assert report["engines"]["pipeline+crop-fill"]["all"]["right"] >= report["engines"]["pipeline"]["all"]["right"]
    assert not [v for v in _printed_values(2, 5) if v in out or v in json.dumps(report)]


def test_card_fields_take_dates_from_their_labels() -> None:
    texts = ["Số / No.: 079 203 001 234", "Ngày sinh / Date of birth: 01/02/1990",
             "Có giá trị đến: 01/02/2030", "Quê quán"]  # fmt: skip
    got = engines.card_fields(texts, 12)
    assert got == {"id_number": "079203001234", "date_of_birth": "1990-02-01", "date_of_expiry": "2030-02-01"}
    assert engines.card_fields(["079 203 001 23"], 12)["id_number"] is None  # a digit short is no number
